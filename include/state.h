/*
 * state.h: what the daemon keeps across restarts in its state directory
 * (`state_directory`, default $STATE_DIRECTORY): the end of each event-log
 * poller's last counted window, so that a restart counts every execution
 * exactly once.
 *
 * One small JSON file per poller, named after a hash of its key (target
 * name and search URL, which holds the Elasticsearch URL and the index), and
 * holding the key itself, so that a changed elasticsearch.url or
 * event_log.index never reuses another window.  Files are replaced
 * atomically (temporary file, fsync, rename, fsync of the directory).
 * Nothing here logs: errors come back with a message naming the file.
 */
#ifndef KCM_STATE_H
#define KCM_STATE_H

#include <stddef.h>
#include <stdint.h>

/* Largest state file read (a window file is about 200 bytes). */
#define STATE_FILE_MAX		(64 * 1024)

/*
 * The state directory: `configured` when not NULL, else the first path of
 * $STATE_DIRECTORY (systemd's StateDirectory=), else NULL (no state).
 */
const char *state_directory(const char *configured);

/*
 * Reads the window end (epoch milliseconds) saved for (target, url).
 * -ENOENT: no state yet (not an error).  Any other negative errno: the file
 * exists but cannot be used; err says why and names the file.
 */
int	 state_load_window(const char *dir, const char *target, const char *url,
	    int64_t *ret_end_ms, char *err, size_t errsz);

/* Saves it atomically; 0 or -errno with err naming the file. */
int	 state_save_window(const char *dir, const char *target, const char *url,
	    int64_t end_ms, char *err, size_t errsz);

#endif /* KCM_STATE_H */
