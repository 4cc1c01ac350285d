/*
 * main.c: wires the binary together.  `nubis serve` runs the daemon; every
 * other first argument is a CLI command (src/cli/), dispatched by table.
 */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return nb_cli_main(argc, argv);
}
