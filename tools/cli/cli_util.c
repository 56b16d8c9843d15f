/* Shared CLI helpers: progress display, number parsing, formatting. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_format_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.2f %s", v, units[u]);
}

void cli_progress_init(cli_progress *p, const char *label, uint64_t total, bool quiet)
{
	memset(p, 0, sizeof *p);
	p->enabled = !quiet;
	p->tty = isatty(STDERR_FILENO) != 0;
	p->label = label;
	p->total = total;
	p->t0 = p->last = cli_now();
}

static void fmt_eta(double s, char *buf, size_t len)
{
	if (!isfinite(s) || s < 0 || s > 359999)
		snprintf(buf, len, "--:--");
	else if (s >= 3600)
		snprintf(buf, len, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
	else
		snprintf(buf, len, "%02d:%02d", (int)s / 60, (int)s % 60);
}

void cli_progress_update(cli_progress *p, uint64_t done, const char *what)
{
	if (!p->enabled)
		return;
	double now = cli_now();
	/* A TTY gets ~10 redraws a second; a log gets a line every 5 s so it stays readable. */
	if (now - p->last < (p->tty ? 0.1 : 5.0))
		return;
	p->last = now;
	double el = now - p->t0;
	double rate = el > 0 ? (double)done / el : 0;
	double frac = p->total ? (double)done / (double)p->total : 0;
	if (frac > 1)
		frac = 1;
	char eta[32];
	fmt_eta(rate > 0 ? (double)(p->total - (done < p->total ? done : p->total)) / rate : -1, eta, sizeof eta);
	char d[32], t[32];
	cli_format_bytes(done, d, sizeof d);
	cli_format_bytes(p->total, t, sizeof t);
	if (p->tty) {
		char bar[31];
		int fill = (int)(frac * 30);
		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = 0;
		fprintf(stderr, "\r\033[K%s [%s] %5.1f%% %s/%s %.2f GB/s ETA %s %.40s", p->label, bar, frac * 100, d, t,
			rate / 1e9, eta, what ? what : "");
	} else {
		fprintf(stderr, "%s: %5.1f%% %s/%s %.2f GB/s ETA %s %s\n", p->label, frac * 100, d, t, rate / 1e9, eta,
			what ? what : "");
	}
	fflush(stderr);
}

void cli_progress_done(cli_progress *p, uint64_t done)
{
	if (!p->enabled)
		return;
	double el = cli_now() - p->t0;
	char d[32];
	cli_format_bytes(done, d, sizeof d);
	if (p->tty)
		fprintf(stderr, "\r\033[K");
	fprintf(stderr, "%s: done, %s in %.2f s (%.2f GB/s)\n", p->label, d, el, el > 0 ? (double)done / el / 1e9 : 0.0);
}

bool cli_parse_int(const char *s, long lo, long hi, long *out)
{
	if (!s || !*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	char *end;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

bool cli_parse_size(const char *s, uint64_t *out)
{
	if (!s || !*s || !(isdigit((unsigned char)*s) || *s == '.'))
		return false;
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return false;
	double mul = 1;
	char u = (char)toupper((unsigned char)*end);
	if (u) {
		switch (u) {
		case 'K': mul = 1024.0; break;
		case 'M': mul = 1024.0 * 1024; break;
		case 'G': mul = 1024.0 * 1024 * 1024; break;
		case 'T': mul = 1024.0 * 1024 * 1024 * 1024; break;
		case 'B': mul = 1; end--; break;
		default: return false;
		}
		end++;
		/* accept K, KB, KiB (all binary: memory sizes are what users mean here) */
		if (!strcmp(end, "iB") || !strcmp(end, "ib") || !strcmp(end, "B") || !strcmp(end, "b"))
			end += strlen(end);
		if (*end)
			return false;
	}
	double r = v * mul;
	if (r >= 18446744073709551615.0)
		return false;
	*out = (uint64_t)r;
	return true;
}
