/*
 * log.h: the daemon's own log (not functions' logs, which are obs/).
 *
 * Lines go to stderr as "<RFC3339 time> <level> <module>: <message>".
 * Thread-safe; one write(2) per line.
 */
#ifndef NB_BASE_LOG_H
#define NB_BASE_LOG_H

enum nb_log_level { NB_LOG_DEBUG, NB_LOG_INFO, NB_LOG_WARN, NB_LOG_ERROR };

void nb_log_set_level(enum nb_log_level level);
void nb_log(enum nb_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define nb_debug(mod, ...) nb_log(NB_LOG_DEBUG, mod, __VA_ARGS__)
#define nb_info(mod, ...) nb_log(NB_LOG_INFO, mod, __VA_ARGS__)
#define nb_warn(mod, ...) nb_log(NB_LOG_WARN, mod, __VA_ARGS__)
#define nb_error(mod, ...) nb_log(NB_LOG_ERROR, mod, __VA_ARGS__)

#endif
