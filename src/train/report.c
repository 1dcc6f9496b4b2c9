/*
** report.c — metrics JSONL and the loss chart (see report.h). The SVG is
** plain text built here: axes with 1-2-5 ticks, the raw training loss as a
** thin line, its exponential moving average as a thick one, validation
** loss as dots joined by a line, and a legend.
*/
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../util/strbuf.h"
#include "tio.h"

static int push(int **st, double **v, int *n, int *cap, int s, double x) {
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 256;
        int *a = realloc(*st, (size_t)c * sizeof *a);
        if (!a) return -1;
        *st = a;
        double *b = realloc(*v, (size_t)c * sizeof *b);
        if (!b) return -1;
        *v = b;
        *cap = c;
    }
    (*st)[*n] = s;
    (*v)[*n] = x;
    (*n)++;
    return 0;
}

int report_open(treport *r, const char *dir, int resume_step, int total_steps, const char *title, sa_err *err) {
    memset(r, 0, sizeof *r);
    r->total_steps = total_steps;
    snprintf(r->title, sizeof r->title, "%s", title ? title : "");
    r->metrics_path = tio_join(dir, "metrics.jsonl");
    r->svg_path = tio_join(dir, "loss.svg");
    if (!r->metrics_path || !r->svg_path) { report_close(r); return sa_fail(err, "out of memory"); }
    strbuf keep;
    strbuf_init(&keep);
    if (resume_step > 0) {
        FILE *in = fopen(r->metrics_path, "rb");
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (in && (len = getline(&line, &cap, in)) > 0) {
            json_t *o = json_loadb(line, (size_t)len, 0, NULL);
            json_t *s = json_object_get(o, "step");
            if (json_is_integer(s) && json_integer_value(s) <= resume_step) {
                strbuf_append(&keep, line, (size_t)len);
                json_t *l = json_object_get(o, "loss"), *vl = json_object_get(o, "val_loss");
                int st = (int)json_integer_value(s);
                if (json_is_number(l)) push(&r->step, &r->loss, &r->n, &r->cap, st, json_number_value(l));
                if (json_is_number(vl)) push(&r->vstep, &r->vloss, &r->nv, &r->capv, st, json_number_value(vl));
            }
            json_decref(o);
        }
        free(line);
        if (in) fclose(in);
    }
    r->f = fopen(r->metrics_path, "wb");
    if (!r->f) {
        strbuf_free(&keep);
        sa_fail(err, "%s: cannot write: %s", r->metrics_path, strerror(errno));
        report_close(r);
        return -1;
    }
    if (keep.len) fwrite(keep.p, 1, keep.len, r->f);
    fflush(r->f);
    strbuf_free(&keep);
    return 0;
}

static void put_num(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ",\"%s\":%.7g", key, v);
    else fprintf(f, ",\"%s\":null", key);
}

void report_step(treport *r, int step, double lr, double loss, double val_loss, double grad_norm, long tokens,
                 double tokens_per_s, double elapsed_s) {
    push(&r->step, &r->loss, &r->n, &r->cap, step, loss);
    if (val_loss >= 0) push(&r->vstep, &r->vloss, &r->nv, &r->capv, step, val_loss);
    if (!r->f) return;
    fprintf(r->f, "{\"step\":%d", step);
    put_num(r->f, "lr", lr);
    put_num(r->f, "loss", loss);
    if (val_loss >= 0) put_num(r->f, "val_loss", val_loss);
    else fprintf(r->f, ",\"val_loss\":null");
    put_num(r->f, "grad_norm", grad_norm);
    fprintf(r->f, ",\"tokens\":%ld", tokens);
    put_num(r->f, "tokens_per_s", tokens_per_s);
    put_num(r->f, "elapsed_s", elapsed_s);
    fprintf(r->f, "}\n");
    fflush(r->f);
}

void report_close(treport *r) {
    if (r->f) fclose(r->f);
    free(r->metrics_path);
    free(r->svg_path);
    free(r->step);
    free(r->loss);
    free(r->vstep);
    free(r->vloss);
    memset(r, 0, sizeof *r);
}

/* ---- the chart ------------------------------------------------------------------ */

#define W 760
#define H 420
#define ML 64     /* margins: left, right, top, bottom */
#define MR 24
#define MT 48
#define MB 56

/* A 1-2-5 tick spacing giving about `want` intervals over span. */
static double nice_step(double span, int want) {
    if (!(span > 0)) return 1;
    double raw = span / want, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void put_escaped(strbuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '<') strbuf_puts(b, "&lt;");
        else if (*s == '>') strbuf_puts(b, "&gt;");
        else if (*s == '&') strbuf_puts(b, "&amp;");
        else if (*s == '"') strbuf_puts(b, "&quot;");
        else strbuf_append(b, s, 1);
    }
}

char *report_svg_text(const int *step, const double *loss, int n, const int *vstep, const double *vloss, int nv,
                      int total_steps, const char *title) {
    double ymax = 0, xmax = total_steps > 0 ? total_steps : 1;
    for (int i = 0; i < n; i++) {
        if (isfinite(loss[i]) && loss[i] > ymax) ymax = loss[i];
        if (step[i] > xmax) xmax = step[i];
    }
    for (int i = 0; i < nv; i++) {
        if (isfinite(vloss[i]) && vloss[i] > ymax) ymax = vloss[i];
        if (vstep[i] > xmax) xmax = vstep[i];
    }
    if (!(ymax > 0)) ymax = 1;
    double ys = nice_step(ymax, 6), xs = nice_step(xmax, 8);
    ymax = ceil(ymax / ys) * ys;
    double pw = W - ML - MR, ph = H - MT - MB;
#define X(v) (ML + (v) / xmax * pw)
#define Y(v) (MT + ph - ((v) > ymax ? ymax : (v) < 0 ? 0 : (v)) / ymax * ph)
    strbuf b;
    strbuf_init(&b);
    strbuf_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                      "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
    strbuf_printf(&b, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    strbuf_puts(&b, "<text x=\"64\" y=\"24\" font-size=\"15\" font-weight=\"bold\">");
    put_escaped(&b, title && *title ? title : "training");
    strbuf_puts(&b, "</text>\n");
    /* grid and ticks */
    for (double v = 0; v <= ymax + ys / 2; v += ys)
        strbuf_printf(&b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                          "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                      ML, W - MR, Y(v), Y(v), ML - 6, Y(v) + 4, v);
    for (double v = 0; v <= xmax + xs / 2; v += xs)
        strbuf_printf(&b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#e4e4e4\"/>"
                          "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                      X(v), X(v), MT, H - MB, X(v), H - MB + 18, v);
    strbuf_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", ML, MT, pw, ph);
    strbuf_printf(&b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">step</text>\n", ML + pw / 2, H - 14);
    strbuf_printf(&b, "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.1f)\">loss (nats per answer token)</text>\n",
                  MT + ph / 2, MT + ph / 2);
    /* training loss: raw (every k-th point when there are many) and smoothed */
    int k = n > 1500 ? n / 1500 + 1 : 1;
    if (n > 0) {
        strbuf_puts(&b, "<polyline fill=\"none\" stroke=\"#9ecae1\" stroke-width=\"1\" points=\"");
        for (int i = 0; i < n; i += k)
            if (isfinite(loss[i])) strbuf_printf(&b, "%.1f,%.1f ", X(step[i]), Y(loss[i]));
        /* a centred moving average: smooth without the lag of an EMA */
        strbuf_puts(&b, "\"/>\n<polyline fill=\"none\" stroke=\"#1f6fb4\" stroke-width=\"2.2\" points=\"");
        int h = n / 40 > 1 ? n / 40 : 1;
        for (int i = 0; i < n; i++) {
            if (i % k && i != n - 1) continue;
            double sum = 0;
            int cnt = 0;
            for (int q = i - h; q <= i + h; q++)
                if (q >= 0 && q < n && isfinite(loss[q])) { sum += loss[q]; cnt++; }
            if (cnt) strbuf_printf(&b, "%.1f,%.1f ", X(step[i]), Y(sum / cnt));
        }
        strbuf_puts(&b, "\"/>\n");
    }
    if (nv > 0) {
        strbuf_puts(&b, "<polyline fill=\"none\" stroke=\"#e6550d\" stroke-width=\"2\" points=\"");
        for (int i = 0; i < nv; i++)
            if (isfinite(vloss[i])) strbuf_printf(&b, "%.1f,%.1f ", X(vstep[i]), Y(vloss[i]));
        strbuf_puts(&b, "\"/>\n");
        for (int i = 0; i < nv; i++)
            if (isfinite(vloss[i])) strbuf_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#e6550d\"/>\n", X(vstep[i]), Y(vloss[i]));
    }
    /* legend, with the last values */
    int lx = W - MR - 250, ly = MT + 14;
    strbuf_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"240\" height=\"%d\" fill=\"white\" stroke=\"#ccc\"/>\n", lx, ly - 12, nv ? 60 : 42);
    strbuf_printf(&b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#9ecae1\" stroke-width=\"2\"/>"
                      "<text x=\"%d\" y=\"%d\">training loss", lx + 8, lx + 30, ly, ly, lx + 36, ly + 4);
    if (n > 0) strbuf_printf(&b, " (last step %.3f)", loss[n - 1]);
    strbuf_puts(&b, "</text>\n");
    strbuf_printf(&b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#1f6fb4\" stroke-width=\"2.5\"/>"
                      "<text x=\"%d\" y=\"%d\">training loss, moving average</text>\n", lx + 8, lx + 30, ly + 18,
                  ly + 18, lx + 36, ly + 22);
    if (nv > 0)
        strbuf_printf(&b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#e6550d\" stroke-width=\"2\"/>"
                          "<text x=\"%d\" y=\"%d\">validation loss (last %.3f)</text>\n",
                      lx + 8, lx + 30, ly + 36, ly + 36, lx + 36, ly + 40, vloss[nv - 1]);
    strbuf_puts(&b, "</svg>\n");
#undef X
#undef Y
    return strbuf_take(&b);
}

int report_svg(const treport *r, sa_err *err) {
    char *s = report_svg_text(r->step, r->loss, r->n, r->vstep, r->vloss, r->nv, r->total_steps, r->title);
    if (!s) return sa_fail(err, "out of memory");
    size_t n = strlen(r->svg_path) + 5;
    char *tmp = malloc(n);
    if (!tmp) { free(s); return sa_fail(err, "out of memory"); }
    snprintf(tmp, n, "%s.tmp", r->svg_path);
    FILE *f = fopen(tmp, "wb");
    int rc = 0;
    if (!f) rc = sa_fail(err, "%s: cannot write: %s", tmp, strerror(errno));
    else {
        int ok = fputs(s, f) >= 0;
        ok = (fclose(f) == 0) && ok;
        if (!ok || rename(tmp, r->svg_path) != 0) { rc = sa_fail(err, "%s: write failed", r->svg_path); remove(tmp); }
    }
    free(tmp);
    free(s);
    return rc;
}
