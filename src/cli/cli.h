/*
 * cli.h: the command-line front end.  nb_cli_main dispatches argv[1]
 * through a table to one file per command (cli/<command>.c), like crun.
 */
#ifndef NB_CLI_CLI_H
#define NB_CLI_CLI_H

int nb_cli_main(int argc, char **argv);

#endif
