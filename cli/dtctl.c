/* placeholder: dtctl is being written */
#include <stdio.h>
int main(void)
{
    fputs("dtctl: not built yet\n", stderr);
    return 1;
}
