/* deeplabseg: fully connected CRF and permutohedral lattice, C reference.
 * The maths and the citations are in crf.h; this file follows densecrf's
 * permutohedral.cpp and densecrf.cpp step by step (same rounding, same
 * summation order; the vertex ids are the lexicographic order of their
 * keys, which changes no sum), so pydensecrf is its check.
 */
#include "crf.h"

#include <math.h>
#include <string.h>
#include "../common.h"

/* ---- parameters ---- */

void
dls_crf_params_init (DlsCrfParams * p)
{
  p->iterations = 5;
  p->gaussian_sxy = 3.0f;
  p->gaussian_weight = 3.0f;
  p->bilateral_sxy = 80.0f;
  p->bilateral_srgb = 13.0f;
  p->bilateral_weight = 10.0f;
  p->warm_start = DLS_CRF_DEFAULT_WARM_START;
  p->warm_iterations = DLS_CRF_DEFAULT_WARM_ITERATIONS;
  p->scale = 1.0f;
  p->min_class_probability = DLS_CRF_DEFAULT_MIN_CLASS_PROBABILITY;
}

void
dls_crf_params_init_deeplab_v2 (DlsCrfParams * p)
{
  dls_crf_params_init (p);
  p->iterations = DLS_CRF_DEFAULT_ITERATIONS;
  p->gaussian_sxy = DLS_CRF_DEFAULT_GAUSSIAN_SXY;
  p->gaussian_weight = DLS_CRF_DEFAULT_GAUSSIAN_WEIGHT;
  p->bilateral_sxy = DLS_CRF_DEFAULT_BILATERAL_SXY;
  p->bilateral_srgb = DLS_CRF_DEFAULT_BILATERAL_SRGB;
  p->bilateral_weight = DLS_CRF_DEFAULT_BILATERAL_WEIGHT;
}

void
dls_crf_params_init_default (DlsCrfParams * p)
{
  dls_crf_params_init_deeplab_v2 (p);
  p->scale = DLS_CRF_DEFAULT_SCALE;
}

gboolean
dls_crf_params_valid (const DlsCrfParams * p, GError ** error)
{
  if (p->iterations < 0 || p->iterations > 100 || p->warm_iterations < 1
      || p->warm_iterations > 100 || !(p->gaussian_sxy >= 0.01f)
      || !(p->bilateral_sxy >= 0.01f) || !(p->bilateral_srgb >= 0.01f)
      || !(p->gaussian_weight >= 0.0f && p->gaussian_weight <= 1000.0f)
      || !(p->bilateral_weight >= 0.0f && p->bilateral_weight <= 1000.0f)
      || !(p->gaussian_sxy <= 1e4f) || !(p->bilateral_sxy <= 1e4f)
      || !(p->bilateral_srgb <= 1e4f)
      || !(p->scale >= 0.05f && p->scale <= 1.0f)
      || !(p->min_class_probability >= 0.0f
          && p->min_class_probability <= DLS_CRF_MAX_MIN_CLASS_PROBABILITY)) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "CRF parameters out of range (iterations 0..100, standard "
        "deviations 0.01..1e4, weights 0..1000, scale 0.05..1, minimum "
        "class probability 0..0.01)");
    return FALSE;
  }
  return TRUE;
}

/* ---- permutohedral lattice ---- */

/* A hash slot holds its key, so a probe touches one cache line; a slot
 * whose gen is not the build's is empty (no clearing per build). */
typedef struct
{
  guint gen;
  int id;
  int key[DLS_LATTICE_MAX_DIM];
  int pad;
} Slot;

/* A point's simplex (the remainder-0 point and the ranks); its d + 1
 * vertex keys follow from it. */
typedef struct
{
  int rem0[DLS_LATTICE_MAX_DIM + 1];
  guint8 rank[DLS_LATTICE_MAX_DIM + 1];
  guint8 pad[2];
} Simplex;

/* Below this many points the build runs on the calling thread only. */
#define PARALLEL_MIN_POINTS 4096

/* Radix digits of the sorted build: at most 11 bits, a 2,048-entry
 * histogram. */
#define SORT_DIGIT 11
/* pairs_vertices() prefetches the weights and offsets of the pair this
 * many ahead. */
#define SORT_AHEAD 32

struct _DlsLattice
{
  int d, max_n, n, m;           /* dimension, capacity, points, vertices */
  int *offsets;                 /* max_n * (d + 1) */
  float *weights;               /* max_n * (d + 1) */
  int *neighbours;              /* (d + 1) * max_m * 2 */
  Simplex *simplex;             /* max_n */
  /* The splat's gather lists (CSR): the entries of vertex v are
   * start[v] .. start[v + 1] - 1 of splat_point (a point) and
   * splat_weight (its barycentric weight), points in increasing order;
   * start[m + 1] = start[m]. */
  int *start;                   /* max_m + 2 */
  int *splat_point;             /* max_n * (d + 1) */
  float *splat_weight;          /* max_n * (d + 1) */
  /* The sum of each vertex's splat weights in list order, formed by the
   * build: the normalisation's splat (of ones), the scatter's floats.
   * Vertex v at v + 1, 0 at 0 (the absent neighbour). */
  float *wsum;                  /* max_m + 1 */
  gboolean sorted;              /* the last build was sorted (below) */
  gboolean force_hash;          /* tests: always the hashed build */
  /* points_simplices_LANES() for the CPU (dls_lattice_new()) */
  void (*simplices) (DlsLattice * l, const float *features, int k0, int k1);
  int lanes;
  /* The hashed build (keys that do not pack into 64 bits): hash table of
   * vertex keys (the first d coordinates), open addressing with linear
   * probing, ids in insertion order (densecrf's HashTable). */
  int *keys;                    /* max_m * d, by the first hashed build */
  Slot *table;                  /* cap (a power of two) */
  gsize cap;
  guint gen;                    /* slots of older builds count as empty */
  int max_m;
  /* apply() scratch, (m + 1) * value_size each, grown on demand. */
  float *values, *new_values;
  gsize values_cap;
  /* The build's second thread (created with the lattice, NULL when it
   * could not be): it takes the second half of the points (simplices,
   * pairs, radix passes) or of the neighbours' directions. */
  GThreadPool *pool;
  GMutex lock;
  GCond cond;
  gboolean busy;
  /* The normalisation's two threads meet after each blur direction
   * (pair_barrier()): arrivals and a generation count. */
  gint bar_count, bar_gen;
  float *norm_out;              /* the running normalisation's output */
  const float *features;        /* of the running build */
  int part_begin, part_end;     /* the worker's range */
  int part;                     /* PART_* */
  /* The simplices' range of rem0 per coordinate, per half of the points
   * (the points it covered: 0 when the build ran on one thread). */
  int q_lo[2][DLS_LATTICE_MAX_DIM], q_hi[2][DLS_LATTICE_MAX_DIM];
  int q_points[2];
  /* The sorted build (lattice_sorted()): a vertex key k (all coordinates
   * = r mod (d + 1)) packed as the fields q_0, r, q_1, .., q_{d-1}, most
   * significant first, with q_c = (k_c - r) / (d + 1) stored as
   * q_c - q_base[c] (>= 1): this order is the lexicographic order of the
   * keys. A pair is key << ebits | e, e = point * (d + 1) + corner. */
  guint64 *pair[2];             /* max_n * (d + 1) each, the radix's two */
  int q_base[DLS_LATTICE_MAX_DIM];
  int q_shift[DLS_LATTICE_MAX_DIM], q_bits[DLS_LATTICE_MAX_DIM];
  int r_shift, r_bits, ebits;
  /* A point whose simplex is the previous point's (neighbouring pixels
   * often share it; every point of a flat region) has no pairs of its
   * own: its run's first point (a head; the first of each half always)
   * stands for the run, run[head] points long (heads: per half). Only
   * when a quarter of the points or more are in runs (use_runs): else
   * the lookups of the runs cost more than the pairs they save. */
  int heads[2];
  gboolean use_runs;
  int *run;                     /* max_n */
  gsize npairs, split;          /* pairs; the second half's first */
  int digit, pass, passes, cur;
  /* Radix counts [parity of the pass][writer][half of the source][digit]
   * and each writer's fill positions. */
  guint radix_count[2][2][2][1 << SORT_DIGIT];
  int radix_pos[2][1 << SORT_DIGIT];
  /* The vertices' packed keys in id order (sorted; the free radix
   * buffer) and the merge's n1 = k + e_j as merge_base[v] + merge_q[j]
   * (merge_bases(); merge_base is the other radix buffer, the sorted
   * pairs', free once the vertices are known). */
  guint64 *vkey, *merge_base;
  guint64 merge_q[DLS_LATTICE_MAX_DIM + 1];
  /* pairs_vertices(): the id of the vertex before the second range, the
   * last id */
  int v_split, v_last;
};

static void lattice_worker (gpointer data, gpointer user_data);
static void lattice_pick_simplices (DlsLattice * l);

gpointer
dls_crf_alloc (gsize n, gsize size)
{
  if (size && n > G_MAXSIZE / size)
    return NULL;
  return g_try_malloc0 (MAX (n * size, 1));
}

DlsLattice *
dls_lattice_new (int d, int max_points)
{
  DlsLattice *l;

  g_return_val_if_fail (d >= 1 && d <= DLS_LATTICE_MAX_DIM, NULL);
  g_return_val_if_fail (max_points >= 1 && max_points <= (1 << 26), NULL);
  l = g_new0 (DlsLattice, 1);
  l->d = d;
  l->max_n = max_points;
  l->max_m = max_points * (d + 1);
  g_mutex_init (&l->lock);
  g_cond_init (&l->cond);
  /* Grown on demand: real lattices have far fewer vertices than points. */
  l->cap = 1024;
  if (!(l->offsets = dls_crf_alloc ((gsize) max_points * (d + 1), sizeof (int)))
      || !(l->weights = dls_crf_alloc ((gsize) max_points * (d + 1),
              sizeof (float)))
      || !(l->simplex = dls_crf_alloc (max_points, sizeof (Simplex)))
      || !(l->neighbours = dls_crf_alloc ((gsize) l->max_m * (d + 1) * 2,
              sizeof (int)))
      || !(l->start = dls_crf_alloc ((gsize) l->max_m + 2, sizeof (int)))
      || !(l->splat_point = dls_crf_alloc (l->max_m, sizeof (int)))
      || !(l->splat_weight = dls_crf_alloc (l->max_m, sizeof (float)))
      || !(l->wsum = dls_crf_alloc ((gsize) l->max_m + 1, sizeof (float)))
      || !(l->pair[0] = dls_crf_alloc (l->max_m, sizeof (guint64)))
      || !(l->pair[1] = dls_crf_alloc (l->max_m, sizeof (guint64)))
      || !(l->run = dls_crf_alloc (max_points, sizeof (int)))
      || !(l->table = dls_crf_alloc (l->cap, sizeof (Slot)))) {
    dls_lattice_free (l);
    return NULL;
  }
  if (max_points >= PARALLEL_MIN_POINTS && g_get_num_processors () > 1)
    l->pool = g_thread_pool_new (lattice_worker, l, 1, FALSE, NULL);
  lattice_pick_simplices (l);
  return l;
}

void
dls_lattice_free (DlsLattice * l)
{
  if (!l)
    return;
  if (l->pool)
    g_thread_pool_free (l->pool, FALSE, TRUE);
  g_mutex_clear (&l->lock);
  g_cond_clear (&l->cond);
  g_free (l->offsets);
  g_free (l->weights);
  g_free (l->simplex);
  g_free (l->neighbours);
  g_free (l->start);
  g_free (l->splat_point);
  g_free (l->splat_weight);
  g_free (l->wsum);
  g_free (l->keys);
  g_free (l->table);
  g_free (l->values);
  g_free (l->new_values);
  g_free (l->pair[0]);
  g_free (l->pair[1]);
  g_free (l->run);
  g_free (l);
}

/* densecrf's key hash, then a multiplicative finaliser: the table is a
 * power of two and masked, and a product only moves bits upwards. */
static inline gsize
key_hash (const int *k, int d)
{
  guint64 h = 0;

  for (int i = 0; i < d; i++) {
    h += (guint64) (guint32) k[i];
    h *= 2531011u;
  }
  h ^= h >> 31;
  h *= G_GUINT64_CONSTANT (0x9E3779B97F4A7C15);
  return (gsize) (h ^ (h >> 29));
}

/* Doubles the table (when half full) and re-inserts the keys in id order:
 * ids do not change. FALSE when out of memory. */
static gboolean
lattice_grow (DlsLattice * l)
{
  Slot *table = dls_crf_alloc (l->cap << 1, sizeof (Slot));

  if (!table)
    return FALSE;
  g_free (l->table);
  l->table = table;
  l->cap <<= 1;
  for (int e = 0; e < l->m; e++) {
    const int *k = l->keys + (gsize) e * l->d;
    gsize h = key_hash (k, l->d) & (l->cap - 1);
    while (l->table[h].gen == l->gen)
      h = (h + 1) & (l->cap - 1);
    l->table[h].gen = l->gen;
    l->table[h].id = e;
    memcpy (l->table[h].key, k, sizeof (int) * l->d);
  }
  return TRUE;
}

static inline gboolean
key_equal (const int *a, const int *b, int d)
{
  for (int i = 0; i < d; i++)
    if (a[i] != b[i])
      return FALSE;
  return TRUE;
}

/* Vertex id of @k (whose key_hash is @hash), or -1 when absent. */
static inline int
lattice_lookup (const DlsLattice * l, const int *k, gsize hash, int d)
{
  gsize h = hash & (l->cap - 1);

  for (;;) {
    const Slot *sl = &l->table[h];

    if (sl->gen != l->gen)
      return -1;
    if (key_equal (sl->key, k, d))
      return sl->id;
    h = (h + 1) & (l->cap - 1);
  }
}

/* Vertex id of @k, a new one when absent; -1 when out of memory. */
static inline int
lattice_insert (DlsLattice * l, const int *k, gsize hash, int d)
{
  gsize h;

  if ((gsize) (l->m + 1) * 2 > l->cap && !lattice_grow (l))
    return -1;
  h = hash & (l->cap - 1);
  for (;;) {
    Slot *sl = &l->table[h];

    if (sl->gen != l->gen) {
      memcpy (l->keys + (gsize) l->m * d, k, sizeof (int) * d);
      memcpy (sl->key, k, sizeof (int) * d);
      sl->gen = l->gen;
      return sl->id = l->m++;
    }
    if (key_equal (sl->key, k, d))
      return sl->id;
    h = (h + 1) & (l->cap - 1);
  }
}

/* f (args..., d) with d a constant for the lattices in use (5: bilateral,
 * 2: Gaussian). */
#define WITH_DIM(d, f, ...) ((d) == 5 ? f (__VA_ARGS__, 5) \
    : (d) == 2 ? f (__VA_ARGS__, 2) : f (__VA_ARGS__, (d)))

/* The simplices are computed for several points at a time, one lane a
 * point (GCC vector extensions), each lane with the scalar code's
 * operations in its order, so the results are the same bits; no branches
 * (their mispredictions were most of the scalar code's time). One source,
 * crf_simplices.h, instantiated per width; dls_lattice_new() picks the
 * widest the CPU runs: 4 lanes, an SSE register on the baseline x86-64 (8
 * lanes there are two registers: GCC spilled and ran slower than the
 * scalar code), and on x86 8 lanes, one AVX2 register, when the CPU has
 * AVX2. Not "fma" in that target: GCC would contract a * b + c into one
 * rounding (-ffp-contract=fast), other bits than densecrf's. */

/* Macros, not functions: 32-byte vector arguments would change the ABI
 * without AVX (GCC warns). SEL: @m (lanes all ones or zeros) ? a : b. */
#define SEL_I(m, a, b) (((m) & (a)) | (~(m) & (b)))
#define SEL_F(m, a, b) ((VecF) SEL_I ((m), (VecI) (a), (VecI) (b)))
#define TO_F(x) __builtin_convertvector ((x), VecF)
#define TO_I(x) __builtin_convertvector ((x), VecI)
/* floorf and ceilf of @x as ints without libm calls (the baseline x86-64
 * has no roundps): exact for |x| < 2^31, the features' range (crf.h); a
 * true comparison is -1; @i is scratch. */
#define FLOOR_I(x, i) ((i) = TO_I (x), (i) + (TO_F (i) > (x)))
#define CEIL_I(x, i) ((i) = TO_I (x), (i) - (TO_F (i) < (x)))

#define LANES 4
#define SIMPLICES_TARGET
#include "crf_simplices.h"
#if defined (__x86_64__) || defined (__i386__)
#define SIMPLICES_WIDE
#define LANES 8
#define SIMPLICES_TARGET __attribute__ ((target ("avx2")))
#include "crf_simplices.h"
#endif

/* The widest points_simplices_LANES() the CPU runs; the environment
 * variable DLS_TEST_LATTICE_LANES=4 keeps the baseline's (tests). */
static void
lattice_pick_simplices (DlsLattice * l)
{
  l->simplices = points_simplices_4;
  l->lanes = 4;
#ifdef SIMPLICES_WIDE
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx2")
      && g_strcmp0 (g_getenv ("DLS_TEST_LATTICE_LANES"), "4") != 0) {
    l->simplices = points_simplices_8;
    l->lanes = 8;
  }
#endif
}

/* Points and vertices are hashed in blocks: first the keys of a block
 * and their slots prefetched, then the lookups in order (vertex ids stay
 * in densecrf's insertion order), so the cache misses of a block overlap. */
#define BUILD_BLOCK 32

typedef struct
{
  int key[DLS_LATTICE_MAX_DIM + 1][DLS_LATTICE_MAX_DIM];
  gsize hash[DLS_LATTICE_MAX_DIM + 1];
} BlockKeys;

/* The d + 1 vertices of each point, in point order; FALSE when out of
 * memory. A point whose simplex is the previous point's (neighbouring
 * pixels often share it) copies its vertices, no hashing. */
static inline __attribute__ ((always_inline)) gboolean
points_vertices (DlsLattice * l, const int d)
{
  const int d1 = d + 1;
  int canonical[(DLS_LATTICE_MAX_DIM + 1) * (DLS_LATTICE_MAX_DIM + 1)];
  BlockKeys block[BUILD_BLOCK];
  gboolean same[BUILD_BLOCK];

  /* The canonical simplex (p. 5). */
  for (int i = 0; i <= d; i++) {
    for (int j = 0; j <= d - i; j++)
      canonical[i * d1 + j] = i;
    for (int j = d - i + 1; j <= d; j++)
      canonical[i * d1 + j] = i - d1;
  }
  for (int k0 = 0; k0 < l->n; k0 += BUILD_BLOCK) {
    const int k1 = MIN (l->n, k0 + BUILD_BLOCK);

    for (int k = k0; k < k1; k++) {
      const Simplex *s = &l->simplex[k];
      BlockKeys *bk = &block[k - k0];

      same[k - k0] = k > 0 && memcmp (s, s - 1, sizeof (*s)) == 0;
      if (same[k - k0])
        continue;
      for (int r = 0; r <= d; r++) {
        for (int i = 0; i < d; i++)
          bk->key[r][i] = s->rem0[i] + canonical[r * d1 + s->rank[i]];
        bk->hash[r] = key_hash (bk->key[r], d);
        __builtin_prefetch (&l->table[bk->hash[r] & (l->cap - 1)]);
      }
    }
    for (int k = k0; k < k1; k++) {
      const BlockKeys *bk = &block[k - k0];
      int *off = l->offsets + (gsize) k * d1;

      if (same[k - k0]) {
        memcpy (off, off - d1, sizeof (int) * d1);
        continue;
      }
      for (int r = 0; r <= d; r++)
        if ((off[r] = lattice_insert (l, bk->key[r], bk->hash[r], d)) < 0)
          return FALSE;
    }
  }
  return TRUE;
}

/* Neighbours of the vertices [i0, i1) along each of the d + 1 directions:
 * n1 = key + e_j with e_j = (-1, ..., d at j, ..., -1) (direction d moves
 * the implicit last coordinate only), n2 = key - e_j. So v's n1 is u
 * exactly when u's n2 is v: only the n1 are looked up and the n2 filled
 * from them (each n2 entry written once, by its own n1: threads working
 * on disjoint [i0, i1) write disjoint entries). The n2 must be -1 before. */
static inline __attribute__ ((always_inline)) void
vertices_neighbours (DlsLattice * l, int i0, int i1, const int d)
{
  BlockKeys block[BUILD_BLOCK];
  int *nb = l->neighbours;
  const gsize m = l->m;

  for (int b0 = i0; b0 < i1; b0 += BUILD_BLOCK) {
    const int b1 = MIN (i1, b0 + BUILD_BLOCK);

    for (int i = b0; i < b1; i++) {
      const int *k = l->keys + (gsize) i * d;
      BlockKeys *bk = &block[i - b0];

      for (int j = 0; j <= d; j++) {
        for (int c = 0; c < d; c++)
          bk->key[j][c] = k[c] - 1;
        if (j < d)
          bk->key[j][j] = k[j] + d;
        bk->hash[j] = key_hash (bk->key[j], d);
        __builtin_prefetch (&l->table[bk->hash[j] & (l->cap - 1)]);
      }
    }
    for (int i = b0; i < b1; i++)
      for (int j = 0; j <= d; j++) {
        const int u = lattice_lookup (l, block[i - b0].key[j],
            block[i - b0].hash[j], d);

        nb[((gsize) j * m + i) * 2] = u;
        if (u >= 0)
          nb[((gsize) j * m + u) * 2 + 1] = i;
      }
  }
}

/* Neighbours along e_j = (-1, ..., d at j, ..., -1), j in [j0, j1), of
 * the vertices of a sorted build: n1 = k + e_j and n2 = k - e_j (u = n1
 * (v) exactly when v = n2 (u)) by one branch-free merge of the shifted
 * keys with the keys. A translation keeps the lexicographic order, so the
 * shifted keys are sorted too; packed, k + e_j is merge_base[v] +
 * merge_q[j] (merge_bases()). A vertex's slot is written until the walk
 * moves past it, so the last write is the answer. */
typedef struct
{
  gssize r, p;                  /* the shifted key's vertex, the key's */
  int *o;                       /* the direction's neighbours */
  guint64 q;                    /* merge_q[j] */
} Walk;

static inline __attribute__ ((always_inline)) void
merge_step (const guint64 * base, const guint64 * key, Walk * w)
{
  const guint64 a = base[w->r] + w->q, b = key[w->p];
  /* arithmetic, not ?: (GCC made branches of those, mispredicted):
   * all ones (-1) unless equal */
  const int ne = -(int) (a != b);

  w->o[w->r * 2] = (int) w->p | ne;
  w->o[w->p * 2 + 1] = (int) w->r | ne;
  w->r += a <= b;
  w->p += a >= b;
}

/* The walks of directions j0 .. j0 + nw - 1: their steps interleaved
 * (independent chains of loads) while all run, then each to its end. */
static inline __attribute__ ((always_inline)) void
neighbours_walks (DlsLattice * l, int j0, const int nw)
{
  const gssize m = l->m;
  const guint64 *key = l->vkey, *base = l->merge_base;
  Walk w[3];

  for (int i = 0; i < nw; i++) {
    w[i].r = w[i].p = 0;
    w[i].o = l->neighbours + (gsize) (j0 + i) * m * 2;
    w[i].q = l->merge_q[j0 + i];
  }
  for (;;) {
    /* a step moves r or p or both by one: this many need no checks */
    gssize steps = m;

    for (int i = 0; i < nw; i++)
      steps = MIN (steps, m - MAX (w[i].r, w[i].p));
    if (steps < 16)
      break;
    for (gssize t = 0; t < steps; t++)
      for (int i = 0; i < nw; i++)
        merge_step (base, key, &w[i]);
  }
  for (int i = 0; i < nw; i++) {
    while (w[i].r < m && w[i].p < m)
      merge_step (base, key, &w[i]);
    for (; w[i].r < m; w[i].r++)
      w[i].o[w[i].r * 2] = -1;
    for (; w[i].p < m; w[i].p++)
      w[i].o[w[i].p * 2 + 1] = -1;
  }
}

static void
neighbours_merge (DlsLattice * l, int j0, int j1)
{
  for (; j0 + 3 <= j1; j0 += 3)
    neighbours_walks (l, j0, 3);
  if (j1 - j0 == 2)
    neighbours_walks (l, j0, 2);
  else if (j1 - j0 == 1)
    neighbours_walks (l, j0, 1);
}

/* The d + 1 pairs (packed vertex key << ebits | e, e = point * (d + 1)
 * + corner) of each head of [k0, k1) (their runs' lengths into run[]), in
 * e order from the half's first pair, and the first radix pass's counts
 * of writer k0 > 0 by half of the pairs. Corner
 * r's key is rem0 + canonical[r][rank] (points_vertices()): coordinate c
 * is rem0_c + r, less d + 1 when rank_c > d - r, so q_c = rem0_c / (d + 1)
 * less 1 for the coordinates whose rank is above d - r. */
static inline __attribute__ ((always_inline)) void
points_pairs (DlsLattice * l, int k0, int k1, const int d)
{
  const int d1 = d + 1, ebits = l->ebits;
  const gsize split = l->split;
  const guint64 mask = ((guint64) 1 << l->digit) - 1;
  const guint64 r_one = (guint64) 1 << l->r_shift;
  guint (*count)[1 << SORT_DIGIT] = l->radix_count[0][k0 > 0];
  guint64 *pair = l->pair[0];
  gsize pos = k0 > 0 ? split : 0;
  int head = k0;

  for (int k = k0; k < k1; k++) {
    const Simplex *s = &l->simplex[k];
    /* sub[rank]: the field of the coordinate of that rank */
    guint64 sub[8] = { 0 };
    guint64 key = 0;
    gsize e = (gsize) k * d1;

    if (l->use_runs && k > k0 && memcmp (s, s - 1, sizeof (*s)) == 0)
      continue;
    l->run[head] = k - head;
    head = k;
    for (int c = 0; c < d; c++) {
      key += (guint64) (s->rem0[c] / d1 - l->q_base[c]) << l->q_shift[c];
      sub[s->rank[c] & 7] = (guint64) 1 << l->q_shift[c];
    }
    for (int r = 0; r <= d; r++, e++, pos++) {
      if (r > 0)
        key += r_one - sub[d1 - r];
      pair[pos] = key << ebits | e;
      count[pos >= split][key & mask]++;
    }
  }
  l->run[head] = k1 - head;
}

/* One stable LSD radix pass (digit l->pass of the keys) over the pairs
 * [b, e) of writer b > 0, at the writer's fill positions; counts the next
 * pass's digits by half of the destination. */
static void
pairs_radix (DlsLattice * l, gsize b, gsize e)
{
  const int w = b > 0, shift = l->ebits + l->pass * l->digit;
  const guint64 mask = ((guint64) 1 << l->digit) - 1;
  const guint64 *src = l->pair[l->cur];
  guint64 *dst = l->pair[1 - l->cur];
  int *pos = l->radix_pos[w];

  if (l->pass + 1 < l->passes) {
    guint (*count)[1 << SORT_DIGIT] = l->radix_count[(l->pass + 1) & 1][w];
    const int next = shift + l->digit;
    const gsize split = l->split;

    for (gsize i = b; i < e; i++) {
      const guint64 x = src[i];
      const int p = pos[(x >> shift) & mask]++;

      dst[p] = x;
      count[(gsize) p >= split][(x >> next) & mask]++;
    }
  } else
    for (gsize i = b; i < e; i++) {
      const guint64 x = src[i];

      dst[pos[(x >> shift) & mask]++] = x;
    }
}

/* The vertices of the sorted pairs [b, e): ids in key order, their keys
 * (l->vkey, the free radix buffer), the points' offsets and the gather
 * lists (a key's pairs are in e order, and runs are consecutive points:
 * points increasing). A vertex's key and list start are written at its
 * first pair, so two ranges can run at once: [b, e) starts with vertex id
 * l->v_split (b > 0, runs off: entry q is pair q) and the range that
 * ends the pairs leaves its last id in l->v_last. The vertices' weight
 * sums (l->wsum) too, but vertex l->v_split's, which both ranges may
 * have: the first leaves a partial sum there, lattice_sorted() sums it
 * again. */
static inline __attribute__ ((always_inline)) void
pairs_vertices (DlsLattice * l, gsize b, gsize end, const gboolean runs,
    const int d)
{
  const int d1 = d + 1, ebits = l->ebits;
  const gsize total = l->npairs;
  const guint64 emask = ((guint64) 1 << ebits) - 1;
  const guint64 *pair = l->pair[l->cur];
  guint64 *vkey = l->vkey;
  guint64 prev = pair[b > 0 ? b - 1 : 0] >> ebits;
  int v = b > 0 ? l->v_split : 0, q = (int) b;
  /* vertex v's weights so far; the second range leaves v_split's alone */
  const int shared = b > 0 ? l->v_split : -1;
  float s = 0.0f;

  if (b == 0) {
    vkey[0] = prev;
    l->start[0] = 0;
  }
  for (gsize p = b; p < end; p++) {
    const guint64 x = pair[p], key = x >> ebits;
    const int e = (int) (x & emask), i = e / d1, len = runs ? l->run[i] : 1;

    /* the pairs' runs, weights and offsets are scattered: fetch ahead */
    if (p + SORT_AHEAD < total) {
      const int ahead = (int) (pair[p + SORT_AHEAD] & emask);

      if (runs)
        __builtin_prefetch (&l->run[ahead / d1]);
      __builtin_prefetch (&l->weights[ahead]);
      __builtin_prefetch (&l->offsets[ahead], 1);
    }
    if (key != prev) {
      if (v != shared)
        l->wsum[v + 1] = s;
      s = 0.0f;
      v++;
      vkey[v] = key;
      l->start[v] = q;
    }
    prev = key;
    /* the head's run: the same corner of each of its points */
    for (int t = 0; t < len; t++, q++) {
      const float w = l->weights[e + t * d1];

      l->offsets[e + t * d1] = v;
      l->splat_point[q] = i + t;
      l->splat_weight[q] = w;
      s += w;
    }
  }
  if (v != shared)
    l->wsum[v + 1] = s;
  if (end == total) {
    l->v_last = v;
    l->start[v + 1] = l->start[v + 2] = q;
  }
}

/* The vertex id of pair l->split_pairs - 1 (pairs_vertices() from there
 * on the worker): the key changes before it. */
static void
pairs_vertices_split (DlsLattice * l)
{
  const guint64 *pair = l->pair[l->cur];
  const int ebits = l->ebits;
  int v = 0;

  for (gsize p = 1; p < l->npairs / 2; p++)
    v += (pair[p] >> ebits) != (pair[p - 1] >> ebits);
  l->v_split = v;
}

/* The parallel parts of a build. */
#define PART_SIMPLICES 0
#define PART_NEIGHBOURS 1       /* hashed (vertices_neighbours) */
#define PART_MERGE 2            /* sorted (neighbours_merge), by direction */
#define PART_PAIRS 3            /* sorted (points_pairs) */
#define PART_RADIX 4            /* sorted (pairs_radix), by points' pairs */
#define PART_VERTICES 5         /* sorted, no runs (pairs_vertices), by pairs */
#define PART_NORM 6             /* the normalisation (norm_halves), by halves */

static void norm_halves (DlsLattice * l, int h0, int h1);

/* Part @part over [b, e). */
static void
run_part (DlsLattice * l, int part, int b, int e)
{
  const int d = l->d;

  switch (part) {
    case PART_SIMPLICES:
      l->simplices (l, l->features, b, e);
      break;
    case PART_NEIGHBOURS:
      WITH_DIM (d, vertices_neighbours, l, b, e);
      break;
    case PART_MERGE:
      neighbours_merge (l, b, e);
      break;
    case PART_PAIRS:
      WITH_DIM (d, points_pairs, l, b, e);
      break;
    case PART_VERTICES:
      WITH_DIM (d, pairs_vertices, l, b, e, FALSE);
      break;
    case PART_NORM:
      norm_halves (l, b, e);
      break;
    default:
      /* by halves of the pairs (split) */
      pairs_radix (l, b == 0 ? 0 : l->split, e == l->n ? l->npairs
          : l->split);
  }
}

static void
lattice_worker (gpointer data, gpointer user_data)
{
  DlsLattice *l = user_data;

  (void) data;
  run_part (l, l->part, l->part_begin, l->part_end);
  g_mutex_lock (&l->lock);
  l->busy = FALSE;
  g_cond_signal (&l->cond);
  g_mutex_unlock (&l->lock);
}

/* Runs @part over [0, @count): the second half on the worker thread
 * (when there is one and the work is large: points or vertices; the
 * merge's count is the directions and the normalisation's its two halves,
 * their work the vertices), the first here. */
static void
run_parallel (DlsLattice * l, int part, int count)
{
  const int half = count / 2;
  const int work = part == PART_MERGE || part == PART_NORM ? l->m : count;

  if (!l->pool || work < PARALLEL_MIN_POINTS || count < 2) {
    run_part (l, part, 0, count);
    return;
  }
  l->part = part;
  l->part_begin = half;
  l->part_end = count;
  l->busy = TRUE;
  /* data must not be NULL; the worker reads its range from @l */
  if (!g_thread_pool_push (l->pool, l, NULL)) {
    l->busy = FALSE;
    /* the normalisation's halves meet at barriers: both here at once */
    if (part == PART_NORM) {
      run_part (l, part, 0, count);
      return;
    }
    run_part (l, part, half, count);
  }
  run_part (l, part, 0, half);
  g_mutex_lock (&l->lock);
  while (l->busy)
    g_cond_wait (&l->cond, &l->lock);
  g_mutex_unlock (&l->lock);
}

/* Places field @c (q_c) at bit @bits of the packed key; the new bit
 * count. Stored: q_c - q_base[c], q_c from lo - 1 (a corner's -1) to hi,
 * and the merge's k + e_j moves it by -1 or +1: 0 .. hi - lo + 3. */
static int
place_field (DlsLattice * l, int c, int lo, int hi, int bits)
{
  l->q_base[c] = lo - 2;
  l->q_shift[c] = bits;
  l->q_bits[c] = g_bit_storage ((gulong) ((gint64) hi - lo + 3));
  return bits + l->q_bits[c];
}

/* merge_base[v] = k + e_j - merge_q[j] for vertex v (packed key k), the
 * same for every j: r > 0: r less 1 (and q_j + 1 = merge_q[j]); r = 0:
 * r = d, every q_c less 1 (and q_j back up by merge_q[j]; j = d moves no
 * q_c). One add a merge step then, no test of r. */
static void
merge_bases (DlsLattice * l)
{
  const guint64 r_mask = ((guint64) 1 << l->r_bits) - 1;
  const guint64 *key = l->vkey;
  guint64 *base = l->merge_base = l->pair[l->cur];
  guint64 delta_0 = (guint64) l->d << l->r_shift;
  const guint64 delta_r = -((guint64) 1 << l->r_shift);

  for (int c = 0; c < l->d; c++)
    delta_0 -= l->merge_q[c];
  for (int v = 0; v < l->m; v++)
    base[v] = key[v] + (((key[v] >> l->r_shift) & r_mask) ? delta_r
        : delta_0);
}

/* The sorted build: every point's d + 1 pairs (packed vertex key, e)
 * sorted by key, stably (LSD radix on the key bits only, the pairs
 * starting in e order; the passes split over the two threads by halves of
 * the pairs); equal keys are one vertex, ids in key order, and the sorted
 * pairs are the splat's gather lists; the neighbours by merging
 * (neighbours_merge). The ids are those of the lexicographic order of
 * the vertex keys, whatever the construction; no hashing (its lookups
 * missed the cache on real video) and no separate renumbering.
 * FALSE, with nothing changed, when the key and e do not fit 64 bits or
 * the rem0 may be beyond the float's integers (then maybe not multiples
 * of d + 1): the caller hashes then. */
static gboolean
lattice_sorted (DlsLattice * l)
{
  const int d = l->d, d1 = d + 1, n = l->n;
  int lo[DLS_LATTICE_MAX_DIM], hi[DLS_LATTICE_MAX_DIM];
  int bits = 0;

  for (int c = 0; c < d; c++) {
    lo[c] = l->q_lo[0][c];
    hi[c] = l->q_hi[0][c];
    if (l->q_points[1] > 0) {
      lo[c] = MIN (lo[c], l->q_lo[1][c]);
      hi[c] = MAX (hi[c], l->q_hi[1][c]);
    }
    /* rem0 is (d + 1) x an integer, computed in floats: exact below
     * 2^24 */
    if (lo[c] < -(1 << 23) || hi[c] > (1 << 23))
      return FALSE;
    lo[c] /= d1;
    hi[c] /= d1;
  }
  /* Fields q_{d-1} .. q_1, r, q_0 from the least significant bit. */
  l->ebits = g_bit_storage ((gulong) ((gsize) n * d1 - 1));
  for (int c = d - 1; c >= 1; c--)
    bits = place_field (l, c, lo[c], hi[c], bits);
  l->r_shift = bits;
  l->r_bits = g_bit_storage ((gulong) d);
  bits = place_field (l, 0, lo[0], hi[0], bits + l->r_bits);
  if (bits + l->ebits > 64)
    return FALSE;

  l->passes = (bits + SORT_DIGIT - 1) / SORT_DIGIT;
  l->digit = (bits + l->passes - 1) / l->passes;
  /* k + e_j: r > 0: r - 1, q_j + 1; r = 0: r = d, every other q_c - 1
   * (merge_bases() adds the part that does not depend on j) */
  for (int j = 0; j <= d; j++)
    l->merge_q[j] = j < d ? (guint64) 1 << l->q_shift[j] : 0;

  l->use_runs = (gint64) (l->heads[0] + l->heads[1]) * 4 <= (gint64) n * 3;
  l->split = (gsize) (l->use_runs ? l->heads[0] : l->q_points[0]) * d1;
  l->npairs = (gsize) (l->use_runs ? l->heads[0] + l->heads[1] : n) * d1;
  memset (l->radix_count[0], 0, sizeof (l->radix_count[0]));
  run_parallel (l, PART_PAIRS, n);
  l->cur = 0;
  for (l->pass = 0; l->pass < l->passes; l->pass++) {
    guint (*count)[2][1 << SORT_DIGIT] = l->radix_count[l->pass & 1];
    int sum = 0;

    /* writer 0 takes the first half of the source, writer 1 the second */
    for (int b = 0; b < 1 << l->digit; b++) {
      const int h0 = count[0][0][b] + count[1][0][b];

      l->radix_pos[0][b] = sum;
      l->radix_pos[1][b] = sum + h0;
      sum += h0 + count[0][1][b] + count[1][1][b];
    }
    memset (l->radix_count[(l->pass + 1) & 1], 0,
        sizeof (l->radix_count[0]));
    run_parallel (l, PART_RADIX, n);
    l->cur = 1 - l->cur;
  }
  l->vkey = l->pair[1 - l->cur];
  if (l->use_runs)
    WITH_DIM (d, pairs_vertices, l, 0, l->npairs, TRUE);
  else {
    const int *start = l->start;
    float s = 0.0f;

    /* run_parallel() splits the pairs at npairs / 2 */
    pairs_vertices_split (l);
    run_parallel (l, PART_VERTICES, (int) l->npairs);
    /* the vertex both ranges may have, in list order */
    for (int q = start[l->v_split]; q < start[l->v_split + 1]; q++)
      s += l->splat_weight[q];
    l->wsum[l->v_split + 1] = s;
  }
  l->m = l->v_last + 1;
  merge_bases (l);
  run_parallel (l, PART_MERGE, d1);
  l->sorted = TRUE;
  return TRUE;
}

/* The hashed build (densecrf's way, ids in insertion order), for keys
 * that do not pack; FALSE when out of memory. */
static gboolean
lattice_hashed (DlsLattice * l)
{
  const int d1 = l->d + 1;
  const gsize total = (gsize) l->n * d1;
  int *nb = l->neighbours, *start = l->start;

  if (!l->keys && !(l->keys = dls_crf_alloc ((gsize) l->max_m * l->d,
              sizeof (int))))
    return FALSE;
  /* A new generation empties the table; after 2^32 builds, clear it. */
  if (++l->gen == 0) {
    memset (l->table, 0, sizeof (Slot) * l->cap);
    l->gen = 1;
  }
  if (!WITH_DIM (l->d, points_vertices, l))
    return FALSE;
  for (gsize e = 0; e < (gsize) d1 * l->m; e++)
    nb[e * 2 + 1] = -1;
  run_parallel (l, PART_NEIGHBOURS, l->m);
  /* The gather lists: a counting sort of the pairs by vertex. */
  memset (start, 0, sizeof (int) * (l->m + 2));
  for (gsize e = 0; e < total; e++)
    start[l->offsets[e] + 2]++;
  for (int v = 0; v < l->m; v++)
    start[v + 2] += start[v + 1];
  /* start[v + 1] is now the fill position of vertex v. */
  memset (l->wsum, 0, sizeof (float) * (l->m + 1));
  for (gsize e = 0; e < total; e++) {
    const int pos = start[l->offsets[e] + 1]++;

    l->splat_point[pos] = (int) (e / d1);
    l->splat_weight[pos] = l->weights[e];
    l->wsum[l->offsets[e] + 1] += l->weights[e];
  }
  l->sorted = FALSE;
  return TRUE;
}

gboolean
dls_lattice_build (DlsLattice * l, const float *features, int n)
{
  if (n < 1 || n > l->max_n)
    return FALSE;
  l->n = n;
  l->m = 0;
  l->features = features;
  l->q_points[1] = l->heads[1] = 0;
  run_parallel (l, PART_SIMPLICES, n);
  l->features = NULL;
  if ((!l->force_hash && lattice_sorted (l)) || lattice_hashed (l))
    return TRUE;
  l->n = l->m = 0;
  return FALSE;
}

/* The blur's buffers (rows of vs floats, row 0 the absent neighbour,
 * vertex i at row i + 1): direction j reads blur_src () and writes
 * blur_dst (), l->new_values and l->values in turn, the first direction
 * reading @first (the splat: l->values, or the build's sums l->wsum, which
 * stay as they are). */
static inline float *
blur_dst (DlsLattice * l, int j)
{
  return j & 1 ? l->values : l->new_values;
}

static inline const float *
blur_src (DlsLattice * l, const float *first, int j)
{
  return j == 0 ? first : blur_dst (l, j - 1);
}

/* Vertices [i0, i1) along direction @j: [1 2 1] / 2. */
static inline __attribute__ ((always_inline)) void
blur_rows (const DlsLattice * l, float *nv, const float *v, int j, int i0,
    int i1, const int vs)
{
  for (int i = i0; i < i1; i++) {
    const int *nb = l->neighbours + ((gsize) j * l->m + i) * 2;
    const float *ov = v + (gsize) (i + 1) * vs;
    const float *v1 = v + (gsize) (nb[0] + 1) * vs;
    const float *v2 = v + (gsize) (nb[1] + 1) * vs;
    float *o = nv + (gsize) (i + 1) * vs;

    for (int k = 0; k < vs; k++)
      o[k] = ov[k] + 0.5f * (v1[k] + v2[k]);
  }
}

/* Points [p0, p1) of the slice of the blurred @values; with @rsqrt, out =
 * 1 / sqrt (slice + 1e-20), the normalisation. */
static inline __attribute__ ((always_inline)) void
slice_rows (const DlsLattice * l, float *out, const float *values, int p0,
    int p1, const int d, const int vs, const gboolean rsqrt)
{
  const int d1 = d + 1;
  const float alpha = 1.0f / (1.0f + powf (2.0f, (float) -d));

  for (int i = p0; i < p1; i++) {
    float *o = out + (gsize) i * vs;

    for (int k = 0; k < vs; k++)
      o[k] = 0.0f;
    for (int j = 0; j < d1; j++) {
      const int v = l->offsets[(gsize) i * d1 + j] + 1;
      const float w = l->weights[(gsize) i * d1 + j];
      for (int k = 0; k < vs; k++)
        o[k] += w * values[(gsize) v * vs + k] * alpha;
    }
    if (rsqrt)
      for (int k = 0; k < vs; k++)
        o[k] = (float) (1.0 / sqrt (o[k] + 1e-20));
  }
}

/* out = K in with the scratch allocated; @d and @vs constants where it
 * matters. (The normalisation's splat of ones is the build's l->wsum:
 * norm_halves().) */
static inline __attribute__ ((always_inline)) void
apply_values (DlsLattice * l, float *out, const float *in, const int d,
    const int vs)
{
  const int d1 = d + 1;

  /* Splat; row 0 the absent neighbour (0). */
  memset (l->values, 0, sizeof (float) * (l->m + 1) * vs);
  memset (l->new_values, 0, sizeof (float) * vs);
  for (int i = 0; i < l->n; i++)
    for (int j = 0; j < d1; j++) {
      const int o = l->offsets[(gsize) i * d1 + j] + 1;
      const float w = l->weights[(gsize) i * d1 + j];
      for (int k = 0; k < vs; k++)
        l->values[(gsize) o * vs + k] += w * in[(gsize) i * vs + k];
    }
  for (int j = 0; j < d1; j++)
    blur_rows (l, blur_dst (l, j), blur_src (l, l->values, j), j, 0, l->m,
        vs);
  slice_rows (l, out, blur_dst (l, d), 0, l->n, d, vs, FALSE);
}

/* Where the normalisation's two threads meet (norm_halves()): the second
 * to arrive starts the next generation; the first spins briefly on it
 * (the halves take about as long), then yields: when the network still
 * runs on the device's threads, the partner may be waiting for a core,
 * and the normalisation has no hurry then (the CRF's kernels queue behind
 * the network). GLib's atomics are full barriers, so each thread's rows
 * are visible to the other after it. */
static void
pair_barrier (DlsLattice * l)
{
  const gint gen = g_atomic_int_get (&l->bar_gen);

  if (g_atomic_int_add (&l->bar_count, 1) == 1) {
    g_atomic_int_set (&l->bar_count, 0);
    g_atomic_int_inc (&l->bar_gen);
    return;
  }
  for (int spin = 0; g_atomic_int_get (&l->bar_gen) == gen; spin++) {
    if (spin < 200) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause ();
#endif
    } else
      g_thread_yield ();
  }
}

static inline __attribute__ ((always_inline)) void
norm_halves_d (DlsLattice * l, int h0, int h1, const int d)
{
  const gboolean paired = h1 - h0 == 1;
  const int i0 = l->m / 2 * h0, i1 = h1 == 2 ? l->m : l->m / 2;
  const int p0 = l->n / 2 * h0, p1 = h1 == 2 ? l->n : l->n / 2;

  for (int j = 0; j <= d; j++) {
    blur_rows (l, blur_dst (l, j), blur_src (l, l->wsum, j), j, i0, i1, 1);
    if (paired)
      pair_barrier (l);
  }
  slice_rows (l, l->norm_out, blur_dst (l, d), p0, p1, d, 1, TRUE);
}

/* The normalisation's vertices and points by halves [h0, h1) of (0, 1):
 * both on one thread, or one each on two threads (run_parallel()), which
 * meet after each direction (a direction reads the other half's rows of
 * the one before). Each row's and point's arithmetic is the one-thread
 * order: the same floats. */
static void
norm_halves (DlsLattice * l, int h0, int h1)
{
  WITH_DIM (l->d, norm_halves_d, l, h0, h1);
}

/* out = K in; FALSE when the scratch could not be allocated. */
/* apply_values()'s scratch for @value_size values a vertex; FALSE when
 * it could not be allocated. */
static gboolean
lattice_scratch (DlsLattice * l, int value_size)
{
  const gsize need = (gsize) (l->m + 1) * value_size;

  if (need > l->values_cap) {
    g_clear_pointer (&l->values, g_free);
    g_clear_pointer (&l->new_values, g_free);
    l->values_cap = 0;
    if (!(l->values = dls_crf_alloc (need, sizeof (float)))
        || !(l->new_values = dls_crf_alloc (need, sizeof (float))))
      return FALSE;
    l->values_cap = need;
  }
  return TRUE;
}

gboolean
dls_lattice_apply (DlsLattice * l, float *out, const float *in,
    int value_size)
{
  if (!lattice_scratch (l, value_size))
    return FALSE;
  if (value_size == 1)
    apply_values (l, out, in, l->d, 1);
  else
    apply_values (l, out, in, l->d, value_size);
  return TRUE;
}

int
dls_lattice_dim (const DlsLattice * l)
{
  return l->d;
}

int
dls_lattice_n_points (const DlsLattice * l)
{
  return l->n;
}

int
dls_lattice_n_vertices (const DlsLattice * l)
{
  return l->m;
}

int
dls_lattice_max_vertices (const DlsLattice * l)
{
  return l->max_m;
}

const int *
dls_lattice_offsets (const DlsLattice * l)
{
  return l->offsets;
}

const float *
dls_lattice_weights (const DlsLattice * l)
{
  return l->weights;
}

const int *
dls_lattice_neighbours (const DlsLattice * l)
{
  return l->neighbours;
}

const int *
dls_lattice_splat_start (const DlsLattice * l)
{
  return l->start;
}

const int *
dls_lattice_splat_points (const DlsLattice * l)
{
  return l->splat_point;
}

const float *
dls_lattice_splat_weights (const DlsLattice * l)
{
  return l->splat_weight;
}

void
dls_lattice_vertex_key (const DlsLattice * l, int v, int *key)
{
  const int d1 = l->d + 1;

  g_return_if_fail (v >= 0 && v < l->m);
  if (!l->sorted) {
    memcpy (key, l->keys + (gsize) v * l->d, sizeof (int) * l->d);
    return;
  }
  for (int c = 0; c < l->d; c++) {
    const guint64 q = (l->vkey[v] >> l->q_shift[c])
        & (((guint64) 1 << l->q_bits[c]) - 1);
    const guint64 r = (l->vkey[v] >> l->r_shift)
        & (((guint64) 1 << l->r_bits) - 1);

    key[c] = ((int) q + l->q_base[c]) * d1 + (int) r;
  }
}

void
dls_lattice_set_hashed (DlsLattice * l, gboolean hashed)
{
  l->force_hash = hashed;
}

int
dls_lattice_simplex_lanes (const DlsLattice * l)
{
  return l->lanes;
}

gboolean
dls_lattice_is_sorted (const DlsLattice * l)
{
  return l->sorted;
}

/* ---- features and normalisation ---- */

void
dls_crf_gaussian_features (float *f, int width, int height, float sxy)
{
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      float *p = f + ((gsize) y * width + x) * 2;
      p[0] = (float) x / sxy;
      p[1] = (float) y / sxy;
    }
}

void
dls_crf_bilateral_features (float *f, int width, int height, float sxy,
    float srgb, const guint8 * rgb, int stride)
{
  /* the same quotients, each divided once: a byte's, and x's in row 0 */
  float byte[256];

  for (int v = 0; v < 256; v++)
    byte[v] = (float) v / srgb;
  for (int y = 0; y < height; y++) {
    const float fy = (float) y / sxy;

    for (int x = 0; x < width; x++) {
      const guint8 *c = rgb + (gsize) y * stride + (gsize) x * 3;
      float *p = f + ((gsize) y * width + x) * 5;
      p[0] = y ? f[(gsize) x * 5] : (float) x / sxy;
      p[1] = fy;
      p[2] = byte[c[0]];
      p[3] = byte[c[1]];
      p[4] = byte[c[2]];
    }
  }
}

gboolean
dls_crf_lattice_norm (DlsLattice * l, float *norm)
{
  if (!lattice_scratch (l, 1))
    return FALSE;
  /* the splat of ones is the build's l->wsum; row 0 the absent
   * neighbour */
  l->values[0] = l->new_values[0] = 0.0f;
  l->norm_out = norm;
  run_parallel (l, PART_NORM, 2);
  l->norm_out = NULL;
  return TRUE;
}

/* ---- mean field ---- */

/* A pairwise term; its lattice and norm stay allocated across
 * dls_crf_clear_pairwise() and are rebuilt in place by the next term
 * added in the same position (the element adds the same terms every
 * frame). */
typedef struct
{
  DlsLattice *lattice;          /* NULL for the separable Gaussian */
  DlsLattice *spare;            /* a kept lattice of an earlier frame */
  float *norm;
  float weight;
  int radius;                   /* > 0: separable Gaussian, no lattice */
  float taps[DLS_CRF_MAX_RADIUS + 1];
} Pairwise;

struct _DlsCrf
{
  int w, h, n, m;
  float *unary, *q, *tmp, *msg, *tmp2;
  float eps;                    /* class pruning (crf.h) */
  int n_active;                 /* classes of the last step */
  int active[256];              /* their indices, increasing */
  float *features;              /* n x DLS_LATTICE_MAX_DIM */
  Pairwise pw[DLS_CRF_MAX_PAIRWISE];
  int n_pw;
};

DlsCrf *
dls_crf_new (int width, int height, int n_classes)
{
  DlsCrf *c;
  gsize nm;

  g_return_val_if_fail (width >= 1 && height >= 1, NULL);
  g_return_val_if_fail ((gint64) width * height <= (1 << 26), NULL);
  g_return_val_if_fail (n_classes >= 1 && n_classes <= 256, NULL);
  c = g_new0 (DlsCrf, 1);
  c->w = width;
  c->h = height;
  c->n = width * height;
  c->m = n_classes;
  c->eps = DLS_CRF_DEFAULT_MIN_CLASS_PROBABILITY;
  c->n_active = n_classes;
  nm = (gsize) c->n * c->m;
  if (!(c->unary = dls_crf_alloc (nm, sizeof (float)))
      || !(c->q = dls_crf_alloc (nm, sizeof (float)))
      || !(c->tmp = dls_crf_alloc (nm, sizeof (float)))
      || !(c->msg = dls_crf_alloc (nm, sizeof (float)))
      || !(c->tmp2 = dls_crf_alloc (nm, sizeof (float)))
      || !(c->features = dls_crf_alloc ((gsize) c->n * DLS_LATTICE_MAX_DIM,
              sizeof (float)))) {
    dls_crf_free (c);
    return NULL;
  }
  return c;
}

void
dls_crf_clear_pairwise (DlsCrf * c)
{
  for (int p = 0; p < c->n_pw; p++)
    if (c->pw[p].lattice) {
      dls_lattice_free (c->pw[p].spare);
      c->pw[p].spare = c->pw[p].lattice;
      c->pw[p].lattice = NULL;
    }
  c->n_pw = 0;
}

void
dls_crf_free (DlsCrf * c)
{
  if (!c)
    return;
  for (int p = 0; p < DLS_CRF_MAX_PAIRWISE; p++) {
    dls_lattice_free (c->pw[p].lattice);
    dls_lattice_free (c->pw[p].spare);
    g_free (c->pw[p].norm);
  }
  g_free (c->unary);
  g_free (c->q);
  g_free (c->tmp);
  g_free (c->msg);
  g_free (c->tmp2);
  g_free (c->features);
  g_free (c);
}

void
dls_crf_set_unary (DlsCrf * c, const float *unary)
{
  memcpy (c->unary, unary, sizeof (float) * c->n * c->m);
}

/* The next pairwise term, its norm allocated (kept from an earlier
 * frame); NULL when full or out of memory. */
static Pairwise *
next_pairwise (DlsCrf * c)
{
  Pairwise *p;

  g_return_val_if_fail (c->n_pw < DLS_CRF_MAX_PAIRWISE, NULL);
  p = &c->pw[c->n_pw];
  if (!p->norm && !(p->norm = dls_crf_alloc (c->n, sizeof (float))))
    return NULL;
  c->n_pw++;
  return p;
}

static gboolean
add_pairwise (DlsCrf * c, int d, float weight)
{
  Pairwise *p = next_pairwise (c);

  if (!p)
    return FALSE;
  p->radius = 0;
  p->weight = weight;
  /* the previous frame's lattice of this term, when its dimension fits */
  if (p->spare && dls_lattice_dim (p->spare) == d)
    p->lattice = g_steal_pointer (&p->spare);
  else {
    g_clear_pointer (&p->spare, dls_lattice_free);
    p->lattice = dls_lattice_new (d, c->n);
  }
  if (!p->lattice || !dls_lattice_build (p->lattice, c->features, c->n)
      || !dls_crf_lattice_norm (p->lattice, p->norm)) {
    c->n_pw--;
    return FALSE;
  }
  return TRUE;
}

/* ---- the Gaussian kernel, separable ---- */

int
dls_crf_gaussian_taps (float sxy, float *taps)
{
  const int r = MAX (1, MIN (DLS_CRF_MAX_RADIUS, (int) ceilf (3.0f * sxy)));

  for (int t = 0; t <= r; t++)
    taps[t] = expf (-0.5f * (float) (t * t) / (sxy * sxy));
  return r;
}

void
dls_crf_gaussian_apply (int w, int h, const float *taps, int r, float *out,
    const float *in, float *tmp, int vs)
{
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      float *o = tmp + ((gsize) y * w + x) * vs;
      for (int k = 0; k < vs; k++)
        o[k] = 0.0f;
      for (int t = MAX (-r, -x); t <= MIN (r, w - 1 - x); t++) {
        const float *a = in + ((gsize) y * w + x + t) * vs;
        for (int k = 0; k < vs; k++)
          o[k] += taps[ABS (t)] * a[k];
      }
    }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      float *o = out + ((gsize) y * w + x) * vs;
      for (int k = 0; k < vs; k++)
        o[k] = 0.0f;
      for (int t = MAX (-r, -y); t <= MIN (r, h - 1 - y); t++) {
        const float *a = tmp + ((gsize) (y + t) * w + x) * vs;
        for (int k = 0; k < vs; k++)
          o[k] += taps[ABS (t)] * a[k];
      }
    }
}

void
dls_crf_gaussian_norm (int w, int h, const float *taps, int r, float *norm,
    float *tmp)
{
  const int n = w * h;

  for (int i = 0; i < n; i++)
    norm[i] = 1.0f;
  dls_crf_gaussian_apply (w, h, taps, r, norm, norm, tmp, 1);
  for (int i = 0; i < n; i++)
    norm[i] = (float) (1.0 / sqrt (norm[i] + 1e-20));
}

gboolean
dls_crf_add_pairwise_gaussian (DlsCrf * c, float sxy, float weight)
{
  Pairwise *p;

  if (sxy > DLS_CRF_SEPARABLE_MAX_SXY) {
    dls_crf_gaussian_features (c->features, c->w, c->h, sxy);
    return add_pairwise (c, 2, weight);
  }
  if (!(p = next_pairwise (c)))
    return FALSE;
  p->weight = weight;
  p->radius = dls_crf_gaussian_taps (sxy, p->taps);
  dls_crf_gaussian_norm (c->w, c->h, p->taps, p->radius, p->norm, c->tmp2);
  return TRUE;
}

gboolean
dls_crf_add_pairwise_bilateral (DlsCrf * c, float sxy, float srgb,
    const guint8 * rgb, int stride, float weight)
{
  dls_crf_bilateral_features (c->features, c->w, c->h, sxy, srgb, rgb,
      stride);
  return add_pairwise (c, 5, weight);
}

/* out_i = softmax (in_i), max subtracted first (densecrf's
 * expAndNormalize). */
static void
exp_normalize (float *out, const float *in, int n, int m)
{
  for (int i = 0; i < n; i++) {
    const float *a = in + (gsize) i * m;
    float *b = out + (gsize) i * m;
    float mx = a[0], s = 0.0f;

    for (int k = 1; k < m; k++)
      mx = MAX (mx, a[k]);
    for (int k = 0; k < m; k++) {
      b[k] = expf (a[k] - mx);
      s += b[k];
    }
    for (int k = 0; k < m; k++)
      b[k] /= s;
  }
}

void
dls_crf_start (DlsCrf * c)
{
  const gsize nm = (gsize) c->n * c->m;

  for (gsize i = 0; i < nm; i++)
    c->tmp[i] = -c->unary[i];
  exp_normalize (c->q, c->tmp, c->n, c->m);
}

void
dls_crf_set_q (DlsCrf * c, const float *q)
{
  memcpy (c->q, q, sizeof (float) * c->n * c->m);
}

void
dls_crf_set_min_class_probability (DlsCrf * c, float eps)
{
  c->eps = eps;
}

int
dls_crf_n_active (const DlsCrf * c)
{
  return c->n_active;
}

/* c->active[0..n_active): the classes whose Q reaches c->eps somewhere
 * (all of them when eps is 0), increasing (crf.h: class pruning). */
static void
active_classes (DlsCrf * c)
{
  const int m = c->m;
  float mx[256] = { 0.0f };

  if (c->eps > 0.0f)
    for (gsize i = 0; i < (gsize) c->n; i++)
      for (int k = 0; k < m; k++)
        mx[k] = MAX (mx[k], c->q[i * m + k]);
  c->n_active = 0;
  for (int k = 0; k < m; k++)
    if (c->eps <= 0.0f || mx[k] >= c->eps)
      c->active[c->n_active++] = k;
}

gboolean
dls_crf_step (DlsCrf * c)
{
  const int n = c->n, m = c->m;
  const gsize nm = (gsize) n * m;
  const int *act = c->active;
  int na;

  active_classes (c);
  na = c->n_active;
  for (gsize i = 0; i < nm; i++)
    c->tmp[i] = -c->unary[i];
  for (int p = 0; p < c->n_pw && na > 0; p++) {
    const Pairwise *pw = &c->pw[p];

    /* Symmetric normalisation: n (K (n Q)), on the active classes only
     * (msg holds na values a pixel; each class is filtered on its own,
     * so its message is the same as with every class). */
    for (int i = 0; i < n; i++)
      for (int k = 0; k < na; k++)
        c->msg[(gsize) i * na + k] = c->q[(gsize) i * m + act[k]]
            * pw->norm[i];
    if (pw->radius > 0)
      dls_crf_gaussian_apply (c->w, c->h, pw->taps, pw->radius, c->msg,
          c->msg, c->tmp2, na);
    else if (!dls_lattice_apply (pw->lattice, c->msg, c->msg, na))
      return FALSE;
    /* Potts: the message is -w * filtered, subtracted. */
    for (int i = 0; i < n; i++)
      for (int k = 0; k < na; k++)
        c->tmp[(gsize) i * m + act[k]] -= -pw->weight
            * (c->msg[(gsize) i * na + k] * pw->norm[i]);
  }
  exp_normalize (c->q, c->tmp, n, m);
  return TRUE;
}

gboolean
dls_crf_inference (DlsCrf * c, int n)
{
  dls_crf_start (c);
  for (int i = 0; i < n; i++)
    if (!dls_crf_step (c))
      return FALSE;
  return TRUE;
}

const float *
dls_crf_q (const DlsCrf * c)
{
  return c->q;
}

/* Argmax of Q; with @conf also round (255 * max Q), as crf_argmax in
 * kernels/crf.cl computes it (the min only guards a Q a rounding above 1). */
void
dls_crf_map (const DlsCrf * c, guint8 * map, int map_stride, guint8 * conf,
    int conf_stride)
{
  for (int y = 0; y < c->h; y++)
    for (int x = 0; x < c->w; x++) {
      const float *q = c->q + ((gsize) y * c->w + x) * c->m;
      int best = 0;

      for (int k = 1; k < c->m; k++)
        if (q[k] > q[best])
          best = k;
      map[(gsize) y * map_stride + x] = (guint8) best;
      if (conf)
        conf[(gsize) y * conf_stride + x] = (guint8) MIN (255.0f * q[best]
            + 0.5f, 255.0f);
    }
}
