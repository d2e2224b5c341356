/* Independent bursting-bubbles simulator (cross-check of fvqp.stochastic.bubbles): the
   source of the reference C_p values pinned in tests/test_stochastic_bubbles.py (see
   docs/theory_stochastic.md). Build: gcc -O2 -o bb benchmarks/bubbles_reference.c -lm
   usage: bb L zeta burn sample record_every seed [tracefile]
   zeta: "none" spinless, "inf" no flips, else number.
   Prints: mean_cp (time-weighted over sample), mean_cp2, mean_P2, final n, M.
   Trace: lines "step cp P" every record_every steps during sample. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s[4];
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t next(void) {
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
  return r;
}
static double u01(void) { return (next() >> 11) * 0x1.0p-53; }
static void seedit(uint64_t x) {
  for (int i = 0; i < 4; i++) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL; z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    s[i] = z ^ (z >> 31);
  }
}

typedef struct { int *a; int n, cap; } vec;
static void vpush(vec *v, int x) {
  if (v->n == v->cap) { v->cap = v->cap ? 2 * v->cap : 8; v->a = realloc(v->a, v->cap * sizeof(int)); }
  v->a[v->n++] = x;
}

static double L; static int m; static double cs;
static vec *cells;
static double *px, *py, *pz; static int *sp, *pc, *pidx, *live, *where; static int cap = 0, n = 0, nup = 0;
static int *freel; static int nfree = 0;
static int spinful, inf_zeta, balanced = 0; static double zeta;

static void grow(void) {
  int nc = cap ? 2 * cap : 1024;
  px = realloc(px, nc * sizeof(double)); py = realloc(py, nc * sizeof(double)); pz = realloc(pz, nc * sizeof(double));
  sp = realloc(sp, nc * sizeof(int)); pc = realloc(pc, nc * sizeof(int)); pidx = realloc(pidx, nc * sizeof(int));
  live = realloc(live, nc * sizeof(int)); where = realloc(where, nc * sizeof(int)); freel = realloc(freel, nc * sizeof(int));
  for (int i = nc - 1; i >= cap; i--) freel[nfree++] = i;
  cap = nc;
}
static inline int cidx(int a, int b, int c) { return (a * m + b) * m + c; }
static inline int cof(double x) { int c = (int)floor(x / cs); c %= m; if (c < 0) c += m; return c; }
static inline double mi(double d) { return d - L * nearbyint(d / L); }

static int partner(double x, double y, double z, int spin, int excl) {
  int a = cof(x), b = cof(y), c = cof(z), best = -1; double br = 1.0;
  int da[3], na = m >= 3 ? 3 : m; /* dedupe when m < 3 */
  int ax[3], bx[3], cx[3];
  for (int k = 0; k < 3; k++) { ax[k] = ((a + k - 1) % m + m) % m; bx[k] = ((b + k - 1) % m + m) % m; cx[k] = ((c + k - 1) % m + m) % m; }
  (void)da;
  for (int i = 0; i < na; i++) for (int j = 0; j < na; j++) for (int k = 0; k < na; k++) {
    vec *v = &cells[cidx(ax[i], bx[j], cx[k])];
    for (int q = 0; q < v->n; q++) {
      int o = v->a[q];
      if (o == excl) continue;
      if (spinful && sp[o] == spin) continue;
      double dx = mi(px[o] - x), dy = mi(py[o] - y), dz = mi(pz[o] - z);
      double r2 = dx * dx + dy * dy + dz * dz;
      if (r2 < br) { br = r2; best = o; }
    }
  }
  return best;
}
static void insert(double x, double y, double z, int spin) {
  if (!nfree) grow();
  int o = freel[--nfree];
  px[o] = x; py[o] = y; pz[o] = z; sp[o] = spin;
  int c = cidx(cof(x), cof(y), cof(z)); pc[o] = c; pidx[o] = cells[c].n; vpush(&cells[c], o);
  live[n] = o; where[o] = n; n++; nup += spin > 0;
}
static void del(int o) {
  vec *v = &cells[pc[o]]; int k = pidx[o], last = v->a[v->n - 1];
  v->a[k] = last; pidx[last] = k; v->n--;
  int w = where[o], ll = live[n - 1]; live[w] = ll; where[ll] = w; n--; nup -= sp[o] > 0;
  freel[nfree++] = o;
}
static double cpnow(void) { return 4.0 * M_PI / 3.0 * n / (L * L * L); }
static void step(void) {
  double cp = cpnow();
  int gen = !spinful || inf_zeta || n == 0 || u01() * (zeta + cp) < zeta;
  if (gen) {
    double x = u01() * L, y = u01() * L, z = u01() * L;
    int spin = spinful ? (u01() < 0.5 ? 1 : -1) : 1;
    if (balanced) { int M = 2 * nup - n; if (M > 0) spin = -1; else if (M < 0) spin = 1; }
    int j = partner(x, y, z, spin, -1);
    if (j >= 0) del(j); else insert(x, y, z, spin);
    return;
  }
  int i = live[(int)(u01() * n)];
  sp[i] = -sp[i]; nup += sp[i] > 0 ? 1 : -1;
  int j = partner(px[i], py[i], pz[i], sp[i], i);
  if (j >= 0) { del(i); del(j); }
}

int main(int argc, char **argv) {
  if (argc < 7) { fprintf(stderr, "usage\n"); return 1; }
  L = atof(argv[1]);
  if (!strcmp(argv[2], "none")) { spinful = 0; inf_zeta = 1; zeta = INFINITY; }
  else if (!strcmp(argv[2], "inf")) { spinful = 1; inf_zeta = 1; zeta = INFINITY; }
  else if (!strcmp(argv[2], "bal")) { spinful = 1; inf_zeta = 1; zeta = INFINITY; balanced = 1; }
  else { spinful = 1; inf_zeta = 0; zeta = atof(argv[2]); }
  long burn = atol(argv[3]), sample = atol(argv[4]), rec = atol(argv[5]);
  seedit(strtoull(argv[6], 0, 10));
  FILE *tr = argc > 7 ? fopen(argv[7], "w") : NULL;
  m = (int)floor(L); cs = L / m;
  cells = calloc((size_t)m * m * m, sizeof(vec));
  for (long k = 0; k < burn; k++) step();
  double sw = 0, s1 = 0, s2 = 0, sP2 = 0;
  for (long k = 0; k < sample; k++) {
    double cp = cpnow();
    double w = (!spinful || inf_zeta) ? 1.0 : 1.0 / (1.0 + cp / zeta);
    double P = n ? (2.0 * nup - n) / (double)n : 0.0;
    sw += w; s1 += w * cp; s2 += w * cp * cp; sP2 += w * P * P;
    step();
    if (tr && rec && k % rec == 0) fprintf(tr, "%ld %.6f %.6f\n", k, cpnow(), n ? (2.0 * nup - n) / (double)n : 0.0);
  }
  printf("%.6f %.6f %.6f %d %d\n", s1 / sw, s2 / sw, sP2 / sw, n, 2 * nup - n);
  if (tr) fclose(tr);
  return 0;
}
