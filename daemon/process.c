/*
 * process.c: process_* metrics (the names every Prometheus client uses),
 * read from /proc at scrape time.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expo.h"
#include "process.h"

struct proc_stat {
	unsigned long long utime, stime, starttime, vsize;
	long long rss;
};

static int
read_stat(struct proc_stat *ps)
{
	char buf[4096], *p;
	ssize_t n;
	int fd;

	/* open/read, not stdio: this runs on every scrape. */
	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL)
		return -EINVAL;
	/* Fields after comm start at field 3 (state). */
	if (sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
	    &ps->utime, &ps->stime, &ps->starttime, &ps->vsize, &ps->rss) != 5)
		return -EINVAL;
	return 0;
}

static double
boot_time(void)
{
	char line[256];
	double bt = 0;
	FILE *f;

	f = fopen("/proc/stat", "re");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "btime ", 6) == 0) {
			bt = strtod(line + 6, NULL);
			break;
		}
	fclose(f);
	return bt;
}

double
process_start_time(void)
{
	struct proc_stat ps;
	long hz = sysconf(_SC_CLK_TCK);

	if (read_stat(&ps) < 0 || hz <= 0)
		return 0;
	return boot_time() + (double)ps.starttime / (double)hz;
}

/*
 * Since Linux 6.2 the size of /proc/PID/fd is the number of open
 * descriptors: one stat() instead of listing the directory (getdents and
 * a dentry per descriptor, some 15% of a gzip scrape's CPU).  Older
 * kernels report 0 there: list it then.
 */
static long
count_fds(void)
{
	struct dirent *de;
	struct stat st;
	long n = 0;
	DIR *d;

	if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
		return (long)st.st_size;
	d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

static void
family(struct strbuf *out, const char *name, const char *type,
    const char *help, double v)
{
	strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s ", name, help,
	    name, type, name);
	expo_value(out, v);
	strbuf_putc(out, '\n');
}

int
process_metrics_render(struct strbuf *out)
{
	static double start;
	struct proc_stat ps;
	struct rlimit rl;
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE), fds;

	if (read_stat(&ps) == 0 && hz > 0 && page > 0) {
		family(out, "process_cpu_seconds_total", "counter",
		    "Total user and system CPU time spent in seconds.",
		    (double)(ps.utime + ps.stime) / (double)hz);
		family(out, "process_resident_memory_bytes", "gauge",
		    "Resident memory size in bytes.", (double)ps.rss * (double)page);
		family(out, "process_virtual_memory_bytes", "gauge",
		    "Virtual memory size in bytes.", (double)ps.vsize);
	}
	if ((fds = count_fds()) >= 0)
		family(out, "process_open_fds", "gauge",
		    "Number of open file descriptors.", (double)fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		family(out, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.", (double)rl.rlim_cur);
	if (start == 0)
		start = process_start_time();
	family(out, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.", start);
	return strbuf_failed(out) ? -ENOMEM : 0;
}
