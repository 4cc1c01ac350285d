/*
 * daemon.h: `nubis serve`: builds the store, the code store, the gateway,
 * the scheduler and the HTTP server on one uv loop and runs them until
 * SIGTERM/SIGINT, then shuts down gracefully.
 */
#ifndef NB_DAEMON_DAEMON_H
#define NB_DAEMON_DAEMON_H

struct nb_daemon_options {
    const char *listen;       /* "127.0.0.1:9000" */
    const char *data_dir;     /* resolved data dir */
    const char *runtimes_dir; /* NULL: found next to the binary */
    const char *config_path;  /* YAML config file (daemon/config.h), or NULL; flags win */
};

/* Runs the daemon in the foreground; returns the process exit code. */
int nb_daemon_run(const struct nb_daemon_options *opts);

/* The data dir per DESIGN.md ($NUBIS_DATA_DIR, $XDG_DATA_HOME/nubis, ~/.local/share/nubis); caller
 * frees. */
char *nb_default_data_dir(void);

#endif
