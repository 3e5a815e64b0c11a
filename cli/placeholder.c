/* placeholder.c - TEMPORARY stand-in for dtctl while libdaytona's process,
 * session and files modules land (cli/CMakeLists.txt, DT_DTCTL). */
#include <stdio.h>

int main(void)
{
    fputs("dtctl: error: this build has no dtctl (configure with "
          "-DDT_DTCTL=ON)\n", stderr);
    return 1;
}
