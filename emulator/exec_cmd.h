/*
 * exec_cmd.h - `daytona-emu exec [EMU FLAGS] -- CMD [ARGS]`: runs CMD
 * against a throwaway emulator and exits with CMD's status.
 */
#ifndef EMU_EXEC_CMD_H
#define EMU_EXEC_CMD_H

/* argv[0] is "exec"; returns the process exit status. */
int emu_exec_main(int argc, char **argv);

#endif
