/* deeplabseg: fully connected CRF and permutohedral lattice, C reference.
 * The maths and the citations are in crf.h; this file follows densecrf's
 * permutohedral.cpp and densecrf.cpp step by step (same rounding, same
 * vertex order, same summation order), so pydensecrf is its check.
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

struct _DlsLattice
{
  int d, max_n, n, m;           /* dimension, capacity, points, vertices */
  int *offsets;                 /* max_n * (d + 1) */
  float *weights;               /* max_n * (d + 1) */
  int *neighbours;              /* (d + 1) * max_m * 2 */
  Simplex *simplex;             /* max_n */
  /* Hash table of vertex keys (the first d coordinates), open addressing
   * with linear probing, ids in insertion order (densecrf's HashTable);
   * build scratch: lattice_sort() renumbers the vertices afterwards, and
   * then keys and table hold the insertion-order ids. */
  int *keys;                    /* max_m * d */
  Slot *table;                  /* cap (a power of two) */
  gsize cap;
  guint gen;                    /* slots of older builds count as empty */
  int max_m;
  /* apply() scratch, (m + 1) * value_size each, grown on demand. */
  float *values, *new_values;
  gsize values_cap;
  /* The build's second thread (created with the lattice, NULL when it
   * could not be): it takes the second half of the points' simplices and
   * of the vertices' neighbours. */
  GThreadPool *pool;
  GMutex lock;
  GCond cond;
  gboolean busy;
  const float *features;        /* of the running build */
  int part_begin, part_end;     /* the worker's range */
  int part;                     /* PART_* */
  /* lattice_sort()'s merge: the sorted packed keys and delta_j. */
  const guint64 *merge_key;
  guint64 merge_delta[DLS_LATTICE_MAX_DIM + 1];
  /* lattice_sort()'s packed keys and ids (two of each: a radix sort's
   * source and destination) and the old id -> new id map, sort_cap
   * vertices each, grown on demand. */
  guint64 *sort_key[2];
  int *sort_id[2];
  int *sort_new;
  gsize sort_cap;
};

static void lattice_worker (gpointer data, gpointer user_data);

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
      || !(l->keys = dls_crf_alloc ((gsize) l->max_m * d, sizeof (int)))
      || !(l->table = dls_crf_alloc (l->cap, sizeof (Slot)))) {
    dls_lattice_free (l);
    return NULL;
  }
  if (max_points >= PARALLEL_MIN_POINTS && g_get_num_processors () > 1)
    l->pool = g_thread_pool_new (lattice_worker, l, 1, FALSE, NULL);
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
  g_free (l->keys);
  g_free (l->table);
  g_free (l->values);
  g_free (l->new_values);
  for (int i = 0; i < 2; i++) {
    g_free (l->sort_key[i]);
    g_free (l->sort_id[i]);
  }
  g_free (l->sort_new);
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

/* floorf and ceilf without libm calls (the baseline x86-64 has no
 * roundss): exact for |v| < 2^31, the features' range (crf.h). */
static inline float
floor_fast (float v)
{
  const int i = (int) v;
  return (float) (i - ((float) i > v));
}

static inline float
ceil_fast (float v)
{
  const int i = (int) v;
  return (float) (i + ((float) i < v));
}

/* The simplex enclosing each point of [k0, k1) and its barycentric
 * weights (Adams et al. 2010, p. 5-6 and 10; densecrf's
 * PermutohedralLattice::init, same operations in the same order). */
static inline __attribute__ ((always_inline)) void
points_simplices (DlsLattice * l, const float *features, int k0, int k1,
    const int d)
{
  const int d1 = d + 1;
  float scale_factor[DLS_LATTICE_MAX_DIM];
  /* Expected standard deviation of the filter (ibid., p. 6). */
  const float inv_std_dev = sqrtf (2.0f / 3.0f) * (float) d1;
  const float down_factor = 1.0f / (float) d1;
  const float up_factor = (float) d1;

  /* The diagonal part of E (p. 5). */
  for (int i = 0; i < d; i++)
    scale_factor[i] = (float) (1.0 / sqrt ((double) ((i + 2) * (i + 1))))
        * inv_std_dev;

  for (int k = k0; k < k1; k++) {
    const float *f = features + (gsize) k * d;
    Simplex *s = &l->simplex[k];
    float elevated[DLS_LATTICE_MAX_DIM + 1], rem0[DLS_LATTICE_MAX_DIM + 1];
    float barycentric[DLS_LATTICE_MAX_DIM + 2];
    int rank[DLS_LATTICE_MAX_DIM + 1];
    float sm = 0.0f;
    int sum = 0;

    /* Elevate onto H_d: y = E f. */
    for (int j = d; j > 0; j--) {
      float cf = f[j - 1] * scale_factor[j - 1];
      elevated[j] = sm - (float) j *cf;
      sm += cf;
    }
    elevated[0] = sm;

    /* The closest remainder-0 point, by rounding. */
    for (int i = 0; i <= d; i++) {
      float v = down_factor * elevated[i];
      float up = ceil_fast (v) * up_factor;
      float down = floor_fast (v) * up_factor;
      int rd = (up - elevated[i] < elevated[i] - down) ? (int) up :
          (int) down;

      rem0[i] = (float) rd;
      sum = (int) ((float) sum + (float) rd * down_factor);
    }

    /* The simplex: rank of each coordinate's remainder (p. 5). */
    for (int i = 0; i <= d; i++)
      rank[i] = 0;
    for (int i = 0; i < d; i++) {
      double di = elevated[i] - rem0[i];
      for (int j = i + 1; j <= d; j++)
        if (di < elevated[j] - rem0[j])
          rank[i]++;
        else
          rank[j]++;
    }
    /* Back onto the plane if the rounded point is not on it. */
    for (int i = 0; i <= d; i++) {
      rank[i] += sum;
      if (rank[i] < 0) {
        rank[i] += d1;
        rem0[i] += d1;
      } else if (rank[i] > d) {
        rank[i] -= d1;
        rem0[i] -= d1;
      }
    }

    /* Barycentric coordinates (p. 10). */
    for (int i = 0; i <= d + 1; i++)
      barycentric[i] = 0.0f;
    for (int i = 0; i <= d; i++) {
      float v = (elevated[i] - rem0[i]) * down_factor;
      barycentric[d - rank[i]] += v;
      barycentric[d - rank[i] + 1] -= v;
    }
    barycentric[0] += 1.0f + barycentric[d + 1];
    for (int r = 0; r <= d; r++)
      l->weights[(gsize) k * d1 + r] = barycentric[r];
    memset (s, 0, sizeof (*s));
    for (int i = 0; i <= d; i++) {
      s->rem0[i] = (int) rem0[i];
      s->rank[i] = (guint8) rank[i];
    }
  }
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
 * the vertices sorted by lattice_sort(): n1 = k + e_j and n2 = k - e_j
 * (u = n1 (v) exactly when v = n2 (u)) by one branch-free merge of the
 * shifted keys with the keys: a vertex's slot is written until the walk
 * moves past it, so the last write is the answer. */
static void
neighbours_merge (DlsLattice * l, int j0, int j1)
{
  const int m = l->m;
  const guint64 *key = l->merge_key;

  for (int j = j0; j < j1; j++) {
    const guint64 delta = l->merge_delta[j];
    int *o = l->neighbours + (gsize) j * m * 2;
    int r = 0, p = 0;

    while (r < m && p < m) {
      const guint64 a = key[r] + delta, b = key[p];

      o[(gsize) r * 2] = a == b ? p : -1;
      o[(gsize) p * 2 + 1] = a == b ? r : -1;
      r += a <= b;
      p += a >= b;
    }
    for (; r < m; r++)
      o[(gsize) r * 2] = -1;
    for (; p < m; p++)
      o[(gsize) p * 2 + 1] = -1;
  }
}

/* The parallel parts of a build. */
#define PART_SIMPLICES 0
#define PART_NEIGHBOURS 1       /* hashed (vertices_neighbours) */
#define PART_MERGE 2            /* sorted (neighbours_merge), by direction */

/* Part @part over [b, e), with a constant @d where it matters. */
static void
run_part (DlsLattice * l, int part, int b, int e)
{
  if (part == PART_MERGE) {
    neighbours_merge (l, b, e);
    return;
  }
  switch (part == PART_NEIGHBOURS ? l->d : -l->d) {
    case 5:
      vertices_neighbours (l, b, e, 5);
      break;
    case 2:
      vertices_neighbours (l, b, e, 2);
      break;
    case -5:
      points_simplices (l, l->features, b, e, 5);
      break;
    case -2:
      points_simplices (l, l->features, b, e, 2);
      break;
    default:
      if (part == PART_NEIGHBOURS)
        vertices_neighbours (l, b, e, l->d);
      else
        points_simplices (l, l->features, b, e, l->d);
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
 * (when there is one and the work is large: points or vertices; the merge's
 * count is the directions, its work the vertices), the first here. */
static void
run_parallel (DlsLattice * l, int part, int count)
{
  const int half = count / 2;
  const int work = part == PART_MERGE ? l->m : count;

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
    run_part (l, part, half, count);
  }
  run_part (l, part, 0, half);
  g_mutex_lock (&l->lock);
  while (l->busy)
    g_cond_wait (&l->cond, &l->lock);
  g_mutex_unlock (&l->lock);
}

/* Radix digits of lattice_sort(): 11 bits, a 2,048-entry histogram. */
#define SORT_DIGIT 11

/* Renumbers the vertices in the lexicographic order of their keys and
 * finds their neighbours by merging: lexicographic order does not change
 * under a translation, so the keys shifted by +-e_j, in vertex order, are
 * sorted too and one sequential walk over the sorted keys finds each
 * neighbour (neighbours_merge, the directions split over the two threads;
 * no hashing: the d + 1 hash lookups a vertex missed the cache). Key coordinate c is packed into a bit field holding
 * key[c] - min_c + d, wide enough for max_c - min_c + 2d, so packed
 * (k +- e_j) = packed (k) +- delta_j without a carry between fields.
 * Vertices whose keys are close in this order are close in the lattice,
 * which the blur's gathers of neighbour rows profit from. Only ids change:
 * every vertex sums the same terms in the same order as before.
 * FALSE, with nothing changed, when the fields do not fit 64 bits or the
 * scratch cannot grow: the caller looks the neighbours up in the hash
 * table then. */
static gboolean
lattice_sort (DlsLattice * l, const int d)
{
  const int m = l->m, d1 = d + 1;
  int lo[DLS_LATTICE_MAX_DIM], hi[DLS_LATTICE_MAX_DIM];
  int shift[DLS_LATTICE_MAX_DIM];
  int bits = 0, cur = 0;
  guint64 *key;
  int *id;

  for (int c = 0; c < d; c++)
    lo[c] = hi[c] = l->keys[c];
  for (gsize e = 0; e < (gsize) m * d; e += d)
    for (int c = 0; c < d; c++) {
      lo[c] = MIN (lo[c], l->keys[e + c]);
      hi[c] = MAX (hi[c], l->keys[e + c]);
    }
  for (int c = d - 1; c >= 0; c--) {
    const gint64 span = (gint64) hi[c] - lo[c] + 2 * d;

    shift[c] = bits;
    bits += g_bit_storage ((gulong) span);
    if (bits > 64)
      return FALSE;
  }
  if ((gsize) m > l->sort_cap) {
    const gsize cap = (gsize) m + m / 4;

    for (int i = 0; i < 2; i++) {
      g_clear_pointer (&l->sort_key[i], g_free);
      g_clear_pointer (&l->sort_id[i], g_free);
    }
    g_clear_pointer (&l->sort_new, g_free);
    l->sort_cap = 0;
    if (!(l->sort_key[0] = dls_crf_alloc (cap, sizeof (guint64)))
        || !(l->sort_key[1] = dls_crf_alloc (cap, sizeof (guint64)))
        || !(l->sort_id[0] = dls_crf_alloc (cap, sizeof (int)))
        || !(l->sort_id[1] = dls_crf_alloc (cap, sizeof (int)))
        || !(l->sort_new = dls_crf_alloc (cap, sizeof (int))))
      return FALSE;
    l->sort_cap = cap;
  }
  for (int v = 0; v < m; v++) {
    const int *k = l->keys + (gsize) v * d;
    guint64 p = 0;

    for (int c = 0; c < d; c++)
      p |= (guint64) (k[c] - lo[c] + d) << shift[c];
    l->sort_key[0][v] = p;
    l->sort_id[0][v] = v;
  }
  /* LSD radix sort, stable. */
  for (int s = 0; s < bits; s += SORT_DIGIT) {
    int count[1 << SORT_DIGIT];
    const guint64 *ks = l->sort_key[cur];
    const int *is = l->sort_id[cur];
    guint64 *kd = l->sort_key[1 - cur];
    int *id_d = l->sort_id[1 - cur];
    int sum = 0;

    memset (count, 0, sizeof (count));
    for (int v = 0; v < m; v++)
      count[(ks[v] >> s) & ((1 << SORT_DIGIT) - 1)]++;
    for (int b = 0; b < (1 << SORT_DIGIT); b++) {
      const int t = count[b];
      count[b] = sum;
      sum += t;
    }
    for (int v = 0; v < m; v++) {
      const int pos = count[(ks[v] >> s) & ((1 << SORT_DIGIT) - 1)]++;
      kd[pos] = ks[v];
      id_d[pos] = is[v];
    }
    cur = 1 - cur;
  }
  key = l->sort_key[cur];
  id = l->sort_id[cur];
  for (int r = 0; r < m; r++)
    l->sort_new[id[r]] = r;
  for (gsize e = 0; e < (gsize) l->n * d1; e++)
    l->offsets[e] = l->sort_new[l->offsets[e]];
  l->merge_key = key;
  for (int j = 0; j <= d; j++) {
    l->merge_delta[j] = 0;
    for (int c = 0; c < d; c++)
      l->merge_delta[j] += (guint64) (c == j ? d : -1) << shift[c];
  }
  run_parallel (l, PART_MERGE, d1);
  l->merge_key = NULL;
  return TRUE;
}

gboolean
dls_lattice_build (DlsLattice * l, const float *features, int n)
{
  gboolean ok;
  int *nb = l->neighbours;

  if (n < 1 || n > l->max_n)
    return FALSE;
  l->n = n;
  l->m = 0;
  /* A new generation empties the table; after 2^32 builds, clear it. */
  if (++l->gen == 0) {
    memset (l->table, 0, sizeof (Slot) * l->cap);
    l->gen = 1;
  }
  l->features = features;
  run_parallel (l, PART_SIMPLICES, n);
  switch (l->d) {
    case 5:
      ok = points_vertices (l, 5);
      break;
    case 2:
      ok = points_vertices (l, 2);
      break;
    default:
      ok = points_vertices (l, l->d);
  }
  l->features = NULL;
  if (!ok) {
    l->n = l->m = 0;
    return FALSE;
  }
  if (lattice_sort (l, l->d))
    return TRUE;
  for (gsize e = 0; e < (gsize) (l->d + 1) * l->m; e++)
    nb[e * 2 + 1] = -1;
  run_parallel (l, PART_NEIGHBOURS, l->m);
  return TRUE;
}

/* out = K in with the scratch allocated; @d and @vs constants where it
 * matters (the normalisation's vs = 1 loses its inner loops). */
static inline __attribute__ ((always_inline)) void
apply_values (DlsLattice * l, float *out, const float *in, const int d,
    const int vs)
{
  const int d1 = d + 1;
  const gsize need = (gsize) (l->m + 1) * vs;
  const float alpha = 1.0f / (1.0f + powf (2.0f, (float) -d));
  float *values, *new_values;

  /* Row 0 is the absent neighbour (always 0); vertex m is row m + 1. */
  values = l->values;
  new_values = l->new_values;
  memset (values, 0, sizeof (float) * need);
  /* the blur writes every other row of new_values */
  memset (new_values, 0, sizeof (float) * vs);

  /* Splat. */
  for (int i = 0; i < l->n; i++)
    for (int j = 0; j < d1; j++) {
      const int o = l->offsets[(gsize) i * d1 + j] + 1;
      const float w = l->weights[(gsize) i * d1 + j];
      for (int k = 0; k < vs; k++)
        values[(gsize) o * vs + k] += w * in[(gsize) i * vs + k];
    }

  /* Blur along each direction: [1 2 1] / 2. */
  for (int j = 0; j < d1; j++) {
    float *t;

    for (int i = 0; i < l->m; i++) {
      const int *nb = l->neighbours + ((gsize) j * l->m + i) * 2;
      const float *ov = values + (gsize) (i + 1) * vs;
      const float *v1 = values + (gsize) (nb[0] + 1) * vs;
      const float *v2 = values + (gsize) (nb[1] + 1) * vs;
      float *nv = new_values + (gsize) (i + 1) * vs;
      for (int k = 0; k < vs; k++)
        nv[k] = ov[k] + 0.5f * (v1[k] + v2[k]);
    }
    t = values;
    values = new_values;
    new_values = t;
  }

  /* Slice. */
  for (int i = 0; i < l->n; i++) {
    float *o = out + (gsize) i * vs;

    for (int k = 0; k < vs; k++)
      o[k] = 0.0f;
    for (int j = 0; j < d1; j++) {
      const int v = l->offsets[(gsize) i * d1 + j] + 1;
      const float w = l->weights[(gsize) i * d1 + j];
      for (int k = 0; k < vs; k++)
        o[k] += w * values[(gsize) v * vs + k] * alpha;
    }
  }
}

/* out = K in; FALSE when the scratch could not be allocated. */
gboolean
dls_lattice_apply (DlsLattice * l, float *out, const float *in,
    int value_size)
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
  if (l->d == 5 && value_size == 1)
    apply_values (l, out, in, 5, 1);
  else if (value_size == 1)
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
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      const guint8 *c = rgb + (gsize) y * stride + (gsize) x * 3;
      float *p = f + ((gsize) y * width + x) * 5;
      p[0] = (float) x / sxy;
      p[1] = (float) y / sxy;
      p[2] = (float) c[0] / srgb;
      p[3] = (float) c[1] / srgb;
      p[4] = (float) c[2] / srgb;
    }
}

gboolean
dls_crf_lattice_norm (DlsLattice * l, float *norm)
{
  for (int i = 0; i < l->n; i++)
    norm[i] = 1.0f;
  if (!dls_lattice_apply (l, norm, norm, 1))
    return FALSE;
  for (int i = 0; i < l->n; i++)
    norm[i] = (float) (1.0 / sqrt (norm[i] + 1e-20));
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
