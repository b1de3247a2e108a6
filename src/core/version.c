/* version.c - the version of this build (core.h): PROJECT_VERSION of CMakeLists.txt and the git
 * commit read at configure time, from the generated sf_version.h (only this file includes it). */
#include "serflow/core.h"
#include "sf_version.h"

const char *sf_version(void)
{
    return SF_VERSION_TEXT;
}

const char *sf_build_commit(void)
{
    return SF_GIT_COMMIT_TEXT;
}
