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

/*
 * Per scrape: CPU time from getrusage(), memory from /proc/self/statm and
 * the descriptor count from /proc/self/fd, the last two kept open (pread()
 * at 0 and fstat() return fresh values).  Opening them, and the kernel
 * building all of /proc/self/stat, was a fifth of a gzip scrape's CPU;
 * /proc/self/stat is read once, for the start time.
 */
static int statm_fd = -1;
static int fd_dir = -1;

/* Field k (1-based, as proc(5) counts) of the text after the comm. */
static int
stat_field(const char *p, int k, unsigned long long *ret)
{
	char *end;
	int i;

	/* p is at field 3 (state). */
	for (i = 3; i < k; i++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return -EINVAL;
		p++;
	}
	if (*p == '-') {	/* never for these fields; read as 0 */
		*ret = 0;
		return 0;
	}
	errno = 0;
	*ret = strtoull(p, &end, 10);
	return end == p || errno != 0 ? -EINVAL : 0;
}

static int
read_starttime(unsigned long long *starttime)
{
	char buf[4096], *p;
	ssize_t n;
	int fd;

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
	if (p == NULL || p[1] != ' ')
		return -EINVAL;
	p += 2;
	/* starttime, field 22 (proc(5)), in clock ticks after boot. */
	return stat_field(p, 22, starttime);
}

/* Virtual and resident size in pages (proc(5): the first two fields). */
static int
read_statm(unsigned long long *size, unsigned long long *resident)
{
	char buf[256], *p, *end;
	ssize_t n;

	if (statm_fd < 0 &&
	    (statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = pread(statm_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	errno = 0;
	*size = strtoull(buf, &p, 10);
	if (p == buf || *p != ' ' || errno != 0)
		return -EINVAL;
	*resident = strtoull(p + 1, &end, 10);
	return end == p + 1 || errno != 0 ? -EINVAL : 0;
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
	unsigned long long starttime;
	long hz = sysconf(_SC_CLK_TCK);

	if (read_starttime(&starttime) < 0 || hz <= 0)
		return 0;
	return boot_time() + (double)starttime / (double)hz;
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

	if (fd_dir < 0)
		fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd_dir >= 0 && fstat(fd_dir, &st) == 0 && st.st_size > 0)
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
	strbuf_puts(out, "# HELP ");
	strbuf_puts(out, name);
	strbuf_putc(out, ' ');
	strbuf_puts(out, help);
	strbuf_puts(out, "\n# TYPE ");
	strbuf_puts(out, name);
	strbuf_putc(out, ' ');
	strbuf_puts(out, type);
	strbuf_putc(out, '\n');
	strbuf_puts(out, name);
	strbuf_putc(out, ' ');
	expo_value(out, v);
	strbuf_putc(out, '\n');
}

int
process_metrics_render(struct strbuf *out)
{
	static double start;
	unsigned long long size = 0, resident = 0;
	struct rusage ru;
	struct rlimit rl;
	long page = sysconf(_SC_PAGESIZE), fds;

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		family(out, "process_cpu_seconds_total", "counter",
		    "Total user and system CPU time spent in seconds.",
		    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	if (read_statm(&size, &resident) == 0 && page > 0) {
		family(out, "process_resident_memory_bytes", "gauge",
		    "Resident memory size in bytes.",
		    (double)resident * (double)page);
		family(out, "process_virtual_memory_bytes", "gauge",
		    "Virtual memory size in bytes.", (double)size * (double)page);
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
