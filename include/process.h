/*
 * process.h: the standard process_* metrics, read from /proc at scrape time.
 */
#ifndef KCM_PROCESS_H
#define KCM_PROCESS_H

#include "util.h"

/* Appends process_* families (HELP, TYPE, sample) to out. */
int	 process_metrics_render(struct strbuf *out);
/* Process start time, seconds since the epoch (from /proc/self/stat). */
double	 process_start_time(void);

#endif /* KCM_PROCESS_H */
