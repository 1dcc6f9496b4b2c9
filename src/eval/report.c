/*
** report.c — see report.h.
*/
#include "report.h"

#include <math.h>
#include <stdlib.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double ev_percentile(double *v, int n, double p) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    double pos = p / 100.0 * (n - 1);
    int lo = (int)floor(pos), hi = (int)ceil(pos);
    return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

void ev_write_svg(FILE *f, const double *lat, int n, const int *conc, const double *rps, int n_conc) {
    const int W = 900, H = 360, PW = 400, PH = 250, X0 = 60, Y0 = 50, X1 = 520;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    /* left: latency histogram */
    fprintf(f, "<text x=\"%d\" y=\"30\" font-size=\"14\">Latency per task (ms), %d tasks</text>\n", X0, n);
    double mx = 0;
    for (int i = 0; i < n; i++) if (lat[i] > mx) mx = lat[i];
    if (mx <= 0) mx = 1;
    enum { BINS = 20 };
    int cnt[BINS] = {0}, cmax = 1;
    for (int i = 0; i < n; i++) {
        int b = (int)(lat[i] / mx * BINS);
        if (b >= BINS) b = BINS - 1;
        if (++cnt[b] > cmax) cmax = cnt[b];
    }
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", X0, Y0 + PH, X0 + PW, Y0 + PH);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", X0, Y0, X0, Y0 + PH);
    for (int b = 0; b < BINS; b++) {
        double h = (double)cnt[b] / cmax * PH, bw = (double)PW / BINS;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4a7ab5\"><title>%d tasks</title></rect>\n",
                X0 + b * bw + 1, Y0 + PH - h, bw - 2, h, cnt[b]);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\">0</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.0f ms</text>\n", X0, Y0 + PH + 16, X0 + PW, Y0 + PH + 16, mx);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%d</text>\n", X0 - 4, Y0 + 10, cmax);
    /* right: throughput vs concurrency */
    fprintf(f, "<text x=\"%d\" y=\"30\" font-size=\"14\">Throughput (requests/s) vs concurrency</text>\n", X1);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", X1, Y0 + PH, X1 + 340, Y0 + PH);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", X1, Y0, X1, Y0 + PH);
    if (n_conc == 0) {
        fprintf(f, "<text x=\"%d\" y=\"%d\">not measured</text>\n", X1 + 120, Y0 + PH / 2);
    } else {
        double rmax = 0;
        int cmaxc = 1;
        for (int i = 0; i < n_conc; i++) { if (rps[i] > rmax) rmax = rps[i]; if (conc[i] > cmaxc) cmaxc = conc[i]; }
        if (rmax <= 0) rmax = 1;
        fprintf(f, "<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" points=\"");
        for (int i = 0; i < n_conc; i++)
            fprintf(f, "%.1f,%.1f ", X1 + (double)conc[i] / cmaxc * 320, Y0 + PH - rps[i] / rmax * PH);
        fprintf(f, "\"/>\n");
        for (int i = 0; i < n_conc; i++) {
            double x = X1 + (double)conc[i] / cmaxc * 320, y = Y0 + PH - rps[i] / rmax * PH;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#c0392b\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.2f</text>\n", x, y, x, y - 8, rps[i]);
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x, Y0 + PH + 16, conc[i]);
        }
    }
    fprintf(f, "</svg>\n");
}
