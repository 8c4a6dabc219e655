/* The integer kernels every generated chip program (chip_NNNN.c) calls: no float, no heap.
 *
 * A value is int32 codes with a number of fractional bits the generator tracks (value = code * 2^-fl);
 * sums accumulate in int64. Weights are read from the chip's memory image, the bytes `illusion export`
 * wrote (little-endian signed codes, 1, 2, 4 or 8 bytes each), at the addresses the generator bakes in.
 * Rounding is the models' own: to nearest, ties to even (qtorch's nearbyint), then clamp to the format.
 * Messages are read from stdin and written to stdout as little-endian codes of 1, 2 or 4 bytes.
 *
 * For a microcontroller: replace read_codes / write_codes with the link's driver (SPI, UART), and
 * load_image with the image placed in the chip's non-volatile memory (a const array in its own section).
 */
#ifndef ILLUSION_CHIP_H
#define ILLUSION_CHIP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint8_t image[IMAGE_BYTES + 1];          /* the chip's weight memory (+1: never zero-sized) */
static int32_t arena[ARENA_VALUES + 1];         /* every value a wake computes, reused as values die */

static inline void fail(const char *why) {
    fprintf(stderr, "chip %d: %s\n", CHIP, why);
    exit(3);
}

static inline void load_image(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail("cannot open its image file");
    size_t n = fread(image, 1, IMAGE_BYTES + 1, f);
    fclose(f);
    if (n != IMAGE_BYTES) fail("its image file is not the size the program was built for");
}

static inline int64_t weight(uint32_t addr, int width) {
    const uint8_t *p = image + addr;
    switch (width) {
    case 1: return (int8_t)p[0];
    case 2: return (int16_t)(uint16_t)(p[0] | (p[1] << 8));
    case 4: return (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24));
    default: {
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
        return (int64_t)v;
    }
    }
}

static inline int64_t shl(int64_t v, int s) { return v * ((int64_t)1 << s); }   /* exact: no overflow by proof */

/* Read n codes of `width` bytes; 0 at a clean end of input before the first byte, else fail. */
static inline int read_codes(int32_t *dst, int32_t n, int width, int first) {
    uint8_t buf[4096];
    int32_t per = 4096 / width, done = 0;
    while (done < n) {
        int32_t k = n - done < per ? n - done : per;
        size_t got = fread(buf, (size_t)width, (size_t)k, stdin);
        if (got != (size_t)k) {
            if (first && done == 0 && got == 0 && feof(stdin)) return 0;
            fail("its input ended inside a message");
        }
        for (int32_t i = 0; i < k; i++) {
            const uint8_t *p = buf + i * width;
            int32_t v = width == 1 ? (int8_t)p[0]
                      : width == 2 ? (int16_t)(uint16_t)(p[0] | (p[1] << 8))
                      : (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24));
            dst[done + i] = v;
        }
        done += k;
    }
    return 1;
}

static inline void write_codes(const int32_t *src, int32_t n) {
    uint8_t buf[4096];
    int32_t done = 0;
    while (done < n) {
        int32_t k = n - done < 1024 ? n - done : 1024;
        for (int32_t i = 0; i < k; i++) {
            uint32_t v = (uint32_t)src[done + i];
            buf[4 * i] = v & 255; buf[4 * i + 1] = (v >> 8) & 255;
            buf[4 * i + 2] = (v >> 16) & 255; buf[4 * i + 3] = v >> 24;
        }
        if (fwrite(buf, 4, (size_t)k, stdout) != (size_t)k) fail("cannot write a message");
        done += k;
    }
}

/* Round v (fl + shift fractional bits) to fl bits: nearest, ties to even; a negative shift scales up. */
static inline int64_t round_shift(int64_t v, int shift) {
    if (shift <= 0) return shl(v, -shift);
    int64_t q = v >> shift;                     /* floor (arithmetic shift) */
    int64_t r = v - shl(q, shift), half = (int64_t)1 << (shift - 1);
    if (r > half || (r == half && (q & 1))) q += 1;
    return q;
}

static inline int32_t clamp(int64_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : (int32_t)v; }

/* QuantPoint: round to the format (shift = fl_in - fl_out) and clamp to its codes [lo, hi]. */
static inline void requant(int32_t *y, const int32_t *x, int32_t n, int shift, int32_t lo, int32_t hi) {
    for (int32_t i = 0; i < n; i++) y[i] = clamp(round_shift(x[i], shift), lo, hi);
}

static inline void relu(int32_t *y, const int32_t *x, int32_t n) {
    for (int32_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

/* y = (a << sa) + (b << sb), elementwise. */
static inline void add(int32_t *y, const int32_t *a, int sa, const int32_t *b, int sb, int32_t n) {
    for (int32_t i = 0; i < n; i++) y[i] = (int32_t)(shl(a[i], sa) + shl(b[i], sb));
}

/* A convolution (groups g) of x (C, H, W) with weights (Co, C/g, kh, kw) at waddr: y (Co, Ho, Wo) with
 * fractional bits fl_w + fl_x + sacc; bias codes at baddr (bwidth bytes; none if bwidth is 0) scaled by sb. */
static inline void conv2d(int32_t *y, const int32_t *x, int C, int H, int W, int Co, int kh, int kw, int sh, int sw,
                   int ph, int pw, int dh, int dw, int g, int Ho, int Wo, uint32_t waddr, int wwidth,
                   uint32_t baddr, int bwidth, int sacc, int sb) {
    int cg = C / g, og = Co / g;
    for (int o = 0; o < Co; o++) {
        int c0 = (o / og) * cg;
        int64_t b = bwidth ? shl(weight(baddr + (uint32_t)o * bwidth, bwidth), sb) : 0;
        for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++) {
                int64_t acc = 0;
                for (int c = 0; c < cg; c++)
                    for (int u = 0; u < kh; u++) {
                        int r = i * sh - ph + u * dh;
                        if (r < 0 || r >= H) continue;
                        for (int v = 0; v < kw; v++) {
                            int s = j * sw - pw + v * dw;
                            if (s < 0 || s >= W) continue;
                            uint32_t k = (uint32_t)(((o * cg + c) * kh + u) * kw + v);
                            acc += weight(waddr + k * wwidth, wwidth) * x[((c0 + c) * H + r) * W + s];
                        }
                    }
                y[(o * Ho + i) * Wo + j] = (int32_t)(shl(acc, sacc) + b);
            }
    }
}

/* y (O) = W (O, I) x (I) at waddr, scaled by sacc, plus the bias (as conv2d). */
static inline void linear(int32_t *y, const int32_t *x, int I, int O, uint32_t waddr, int wwidth, uint32_t baddr,
                   int bwidth, int sacc, int sb) {
    for (int o = 0; o < O; o++) {
        int64_t acc = 0;
        for (int i = 0; i < I; i++) acc += weight(waddr + (uint32_t)(o * I + i) * wwidth, wwidth) * x[i];
        y[o] = (int32_t)(shl(acc, sacc) + (bwidth ? shl(weight(baddr + (uint32_t)o * bwidth, bwidth), sb) : 0));
    }
}

/* x (outer, channels, inner) << sx plus each channel's bias << sb. */
static inline void bias_add(int32_t *y, const int32_t *x, int outer, int channels, int inner, uint32_t baddr, int bwidth,
                     int sx, int sb) {
    for (int a = 0; a < outer; a++)
        for (int c = 0; c < channels; c++) {
            int64_t b = shl(weight(baddr + (uint32_t)c * bwidth, bwidth), sb);
            for (int k = 0; k < inner; k++) {
                int32_t i = (a * channels + c) * inner + k;
                y[i] = (int32_t)(shl(x[i], sx) + b);
            }
        }
}

static inline void maxpool2d(int32_t *y, const int32_t *x, int C, int H, int W, int kh, int kw, int sh, int sw, int ph,
                      int pw, int Ho, int Wo) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++) {
                int32_t best = INT32_MIN;
                for (int u = 0; u < kh; u++) {
                    int r = i * sh - ph + u;
                    if (r < 0 || r >= H) continue;
                    for (int v = 0; v < kw; v++) {
                        int s = j * sw - pw + v;
                        if (s >= 0 && s < W && x[(c * H + r) * W + s] > best) best = x[(c * H + r) * W + s];
                    }
                }
                y[(c * Ho + i) * Wo + j] = best;
            }
}

/* dst[doff + Σ i_k dstride_k] = src[soff + Σ i_k sstride_k] << shift over the index box `sizes` (≤ 6 dims). */
static inline void copy_strided(int32_t *dst, int32_t doff, const int32_t *dstride, const int32_t *src, int32_t soff,
                         const int32_t *sstride, const int32_t *sizes, int nd, int shift) {
    int32_t idx[6] = {0, 0, 0, 0, 0, 0}, total = 1;
    for (int k = 0; k < nd; k++) total *= sizes[k];
    for (int32_t n = 0; n < total; n++) {
        int32_t d = doff, s = soff;
        for (int k = 0; k < nd; k++) { d += idx[k] * dstride[k]; s += idx[k] * sstride[k]; }
        dst[d] = (int32_t)shl(src[s], shift);
        for (int k = nd - 1; k >= 0; k--) {
            if (++idx[k] < sizes[k]) break;
            idx[k] = 0;
        }
    }
}

static inline void fill(int32_t *y, int32_t n, int32_t v) {
    for (int32_t i = 0; i < n; i++) y[i] = v;
}

/* The index of each row's first largest value. */
static inline void argmax_rows(int32_t *y, const int32_t *x, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        int best = 0;
        for (int c = 1; c < cols; c++) if (x[r * cols + c] > x[r * cols + best]) best = c;
        y[r] = best;
    }
}

static inline void eq_scalar(int32_t *y, const int32_t *x, int32_t n, int32_t k) {
    for (int32_t i = 0; i < n; i++) y[i] = x[i] == k;
}

/* y = c ? a << sa : b << sb, elementwise (all of one shape). */
static inline void where3(int32_t *y, const int32_t *c, const int32_t *a, int sa, const int32_t *b, int sb, int32_t n) {
    for (int32_t i = 0; i < n; i++) y[i] = (int32_t)(c[i] ? shl(a[i], sa) : shl(b[i], sb));
}

/* One LSTM step of a chip's slice of H hidden units (gates i, f, g, o: 4H rows of W_ih (4H, I), W_hh (4H, Hin)
 * and the bias), hard sigmoid clamp((p + 4) / 8, 0, 1) and hard tanh clamp(p, -1, 1), rounding as the model:
 * p to `pre`, the gates to `io`, c' = pre(f c + i g), h = io(o hardtanh(c')), c_out = io(c').
 * x, h, c have io's fl (fio); the weights wfl, the bias bfl. */
static inline void lstm_slice(int32_t *h_out, int32_t *c_out, const int32_t *x, const int32_t *h, const int32_t *c,
                       int I, int Hin, int H, uint32_t wih, uint32_t whh, int wwidth, uint32_t baddr, int bwidth,
                       int wfl, int bfl, int fio, int io_lo, int io_hi, int fpre, int pre_lo, int pre_hi) {
    int accfl = wfl + fio > bfl ? wfl + fio : bfl;
    int32_t gate[4];
    for (int u = 0; u < H; u++) {
        for (int q = 0; q < 4; q++) {
            int row = q * H + u;
            int64_t acc = 0;
            for (int i = 0; i < I; i++) acc += weight(wih + (uint32_t)(row * I + i) * wwidth, wwidth) * x[i];
            for (int i = 0; i < Hin; i++) acc += weight(whh + (uint32_t)(row * Hin + i) * wwidth, wwidth) * h[i];
            acc = shl(acc, accfl - wfl - fio) + shl(weight(baddr + (uint32_t)row * bwidth, bwidth), accfl - bfl);
            int64_t p = clamp(round_shift(acc, accfl - fpre), pre_lo, pre_hi);          /* fpre bits */
            int64_t a;
            if (q == 2) {                                   /* g: hard tanh, fpre bits */
                int64_t one = (int64_t)1 << fpre;
                a = round_shift(p < -one ? -one : p > one ? one : p, fpre - fio);
            } else {                                        /* hard sigmoid: (p + 4) / 8 has fpre + 3 bits */
                int64_t s = p + shl(4, fpre), one = (int64_t)1 << (fpre + 3);
                a = round_shift(s < 0 ? 0 : s > one ? one : s, fpre + 3 - fio);
            }
            gate[q] = clamp(a, io_lo, io_hi);
        }
        int64_t cn = (int64_t)gate[1] * c[u] + (int64_t)gate[0] * gate[2];           /* 2 fio bits */
        int64_t cp = clamp(round_shift(cn, 2 * fio - fpre), pre_lo, pre_hi);        /* fpre bits */
        int64_t one = (int64_t)1 << fpre;
        int64_t t = cp < -one ? -one : cp > one ? one : cp;
        h_out[u] = clamp(round_shift((int64_t)gate[3] * t, fio + fpre - fio), io_lo, io_hi);
        c_out[u] = clamp(round_shift(cp, fpre - fio), io_lo, io_hi);
    }
}

#endif
