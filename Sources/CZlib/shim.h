// The system zlib (Debian: zlib1g-dev), for gzip request bodies on POST /v1/traces.
#include <zlib.h>
