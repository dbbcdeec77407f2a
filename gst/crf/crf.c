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
  p->warm_start = TRUE;
  p->warm_iterations = 1;
  p->scale = 1.0f;
}

void
dls_crf_params_init_deeplab_v2 (DlsCrfParams * p)
{
  dls_crf_params_init (p);
  p->gaussian_sxy = 1.0f;
  p->gaussian_weight = 3.0f;
  p->bilateral_sxy = 67.0f;
  p->bilateral_srgb = 3.0f;
  p->bilateral_weight = 4.0f;
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
      || !(p->scale >= 0.05f && p->scale <= 1.0f)) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "CRF parameters out of range (iterations 0..100, standard "
        "deviations 0.01..1e4, weights 0..1000, scale 0.05..1)");
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

struct _DlsLattice
{
  int d, max_n, n, m;           /* dimension, capacity, points, vertices */
  int *offsets;                 /* max_n * (d + 1) */
  float *weights;               /* max_n * (d + 1) */
  int *neighbours;              /* (d + 1) * max_m * 2 */
  /* Hash table of vertex keys (the first d coordinates), open addressing
   * with linear probing, ids in insertion order (densecrf's HashTable). */
  int *keys;                    /* max_m * d */
  Slot *table;                  /* cap (a power of two) */
  gsize cap;
  guint gen;                    /* slots of older builds count as empty */
  int max_m;
  /* apply() scratch, (m + 1) * value_size each, grown on demand. */
  float *values, *new_values;
  gsize values_cap;
};

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
  l->offsets = g_new (int, (gsize) max_points * (d + 1));
  l->weights = g_new (float, (gsize) max_points * (d + 1));
  l->neighbours = g_new (int, (gsize) l->max_m * (d + 1) * 2);
  l->keys = g_new (int, (gsize) l->max_m * d);
  /* Grown on demand: real lattices have far fewer vertices than points. */
  l->cap = 1024;
  l->table = g_new0 (Slot, l->cap);
  return l;
}

void
dls_lattice_free (DlsLattice * l)
{
  if (!l)
    return;
  g_free (l->offsets);
  g_free (l->weights);
  g_free (l->neighbours);
  g_free (l->keys);
  g_free (l->table);
  g_free (l->values);
  g_free (l->new_values);
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
 * ids do not change. */
static void
lattice_grow (DlsLattice * l)
{
  l->cap <<= 1;
  g_free (l->table);
  l->table = g_new0 (Slot, l->cap);
  for (int e = 0; e < l->m; e++) {
    const int *k = l->keys + (gsize) e * l->d;
    gsize h = key_hash (k, l->d) & (l->cap - 1);
    while (l->table[h].gen == l->gen)
      h = (h + 1) & (l->cap - 1);
    l->table[h].gen = l->gen;
    l->table[h].id = e;
    memcpy (l->table[h].key, k, sizeof (int) * l->d);
  }
}

static inline gboolean
key_equal (const int *a, const int *b, int d)
{
  for (int i = 0; i < d; i++)
    if (a[i] != b[i])
      return FALSE;
  return TRUE;
}

/* Vertex id of @k (whose key_hash is @hash); a new one when absent and
 * @create, else -1. */
static int
lattice_find (DlsLattice * l, const int *k, gsize hash, gboolean create)
{
  const int d = l->d;
  gsize h;

  if (create && (gsize) (l->m + 1) * 2 > l->cap)
    lattice_grow (l);
  h = hash & (l->cap - 1);
  for (;;) {
    Slot *sl = &l->table[h];

    if (sl->gen != l->gen) {
      if (!create)
        return -1;
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

gboolean
dls_lattice_build (DlsLattice * l, const float *features, int n)
{
  const int d = l->d, d1 = l->d + 1;
  float scale_factor[DLS_LATTICE_MAX_DIM];
  float elevated[DLS_LATTICE_MAX_DIM + 1], rem0[DLS_LATTICE_MAX_DIM + 1];
  float barycentric[DLS_LATTICE_MAX_DIM + 2];
  int rank[DLS_LATTICE_MAX_DIM + 1];
  /* The previous point's simplex: neighbouring pixels often share it, and
   * then their vertices are the same (no hashing). */
  float prev_rem0[DLS_LATTICE_MAX_DIM + 1];
  int prev_rank[DLS_LATTICE_MAX_DIM + 1], prev_k = -1;
  int canonical[(DLS_LATTICE_MAX_DIM + 1) * (DLS_LATTICE_MAX_DIM + 1)];
  /* Expected standard deviation of the filter (Adams et al. 2010, p. 6). */
  const float inv_std_dev = sqrtf (2.0f / 3.0f) * (float) d1;
  const float down_factor = 1.0f / (float) d1;
  const float up_factor = (float) d1;

  if (n < 1 || n > l->max_n)
    return FALSE;
  l->n = n;
  l->m = 0;
  /* A new generation empties the table; after 2^32 builds, clear it. */
  if (++l->gen == 0) {
    memset (l->table, 0, sizeof (Slot) * l->cap);
    l->gen = 1;
  }

  /* The canonical simplex (p. 5). */
  for (int i = 0; i <= d; i++) {
    for (int j = 0; j <= d - i; j++)
      canonical[i * d1 + j] = i;
    for (int j = d - i + 1; j <= d; j++)
      canonical[i * d1 + j] = i - d1;
  }
  /* The diagonal part of E (p. 5). */
  for (int i = 0; i < d; i++)
    scale_factor[i] = (float) (1.0 / sqrt ((double) ((i + 2) * (i + 1))))
        * inv_std_dev;

  for (int k = 0; k < n; k++) {
    const float *f = features + (gsize) k * d;
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
      float up = ceilf (v) * up_factor;
      float down = floorf (v) * up_factor;
      int rd = (up - elevated[i] < elevated[i] - down) ? (int) up : (int) down;

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

    /* The d + 1 vertices. */
    if (prev_k >= 0 && memcmp (prev_rem0, rem0, sizeof (float) * d1) == 0
        && memcmp (prev_rank, rank, sizeof (int) * d1) == 0) {
      memcpy (l->offsets + (gsize) k * d1, l->offsets + (gsize) prev_k * d1,
          sizeof (int) * d1);
    } else {
      int keys[DLS_LATTICE_MAX_DIM + 1][DLS_LATTICE_MAX_DIM];
      gsize hashes[DLS_LATTICE_MAX_DIM + 1];

      /* All d + 1 keys first, their slots prefetched, then the lookups:
       * the table is larger than the caches, so the misses overlap. */
      for (int r = 0; r <= d; r++) {
        for (int i = 0; i < d; i++)
          keys[r][i] = (int) rem0[i] + canonical[r * d1 + rank[i]];
        hashes[r] = key_hash (keys[r], d);
        __builtin_prefetch (&l->table[hashes[r] & (l->cap - 1)]);
      }
      for (int r = 0; r <= d; r++)
        l->offsets[(gsize) k * d1 + r] = lattice_find (l, keys[r],
            hashes[r], TRUE);
      memcpy (prev_rem0, rem0, sizeof (float) * d1);
      memcpy (prev_rank, rank, sizeof (int) * d1);
      prev_k = k;
    }
    for (int r = 0; r <= d; r++)
      l->weights[(gsize) k * d1 + r] = barycentric[r];
  }

  /* Neighbours along each of the d + 1 directions: per vertex, the
   * 2 (d + 1) keys and prefetches first, then the lookups. */
  for (int i = 0; i < l->m; i++) {
    const int *k = l->keys + (gsize) i * d;
    int nk[2 * (DLS_LATTICE_MAX_DIM + 1)][DLS_LATTICE_MAX_DIM];
    gsize nh[2 * (DLS_LATTICE_MAX_DIM + 1)];

    for (int j = 0; j <= d; j++) {
      int *n1 = nk[2 * j], *n2 = nk[2 * j + 1];

      for (int c = 0; c < d; c++) {
        n1[c] = k[c] - 1;
        n2[c] = k[c] + 1;
      }
      /* Direction d moves the (implicit) last coordinate only. */
      if (j < d) {
        n1[j] = k[j] + d;
        n2[j] = k[j] - d;
      }
      for (int t = 2 * j; t < 2 * j + 2; t++) {
        nh[t] = key_hash (nk[t], d);
        __builtin_prefetch (&l->table[nh[t] & (l->cap - 1)]);
      }
    }
    for (int t = 0; t < 2 * d1; t++)
      l->neighbours[((gsize) (t / 2) * l->m + i) * 2 + t % 2] =
          lattice_find (l, nk[t], nh[t], FALSE);
  }
  return TRUE;
}

void
dls_lattice_apply (DlsLattice * l, float *out, const float *in,
    int value_size)
{
  const int d1 = l->d + 1, vs = value_size;
  const gsize need = (gsize) (l->m + 1) * vs;
  const float alpha = 1.0f / (1.0f + powf (2.0f, (float) -l->d));
  float *values, *new_values;

  if (need > l->values_cap) {
    g_free (l->values);
    g_free (l->new_values);
    l->values = g_new (float, need);
    l->new_values = g_new (float, need);
    l->values_cap = need;
  }
  /* Row 0 is the absent neighbour (always 0); vertex m is row m + 1. */
  values = l->values;
  new_values = l->new_values;
  memset (values, 0, sizeof (float) * need);
  memset (new_values, 0, sizeof (float) * need);

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

void
dls_crf_lattice_norm (DlsLattice * l, float *norm)
{
  for (int i = 0; i < l->n; i++)
    norm[i] = 1.0f;
  dls_lattice_apply (l, norm, norm, 1);
  for (int i = 0; i < l->n; i++)
    norm[i] = (float) (1.0 / sqrt (norm[i] + 1e-20));
}

/* ---- mean field ---- */

typedef struct
{
  DlsLattice *lattice;
  float *norm;
  float weight;
  int radius;                   /* > 0: separable Gaussian, no lattice */
  float taps[DLS_CRF_MAX_RADIUS + 1];
} Pairwise;

struct _DlsCrf
{
  int w, h, n, m;
  float *unary, *q, *tmp, *msg, *tmp2;
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
  nm = (gsize) c->n * c->m;
  c->unary = g_new0 (float, nm);
  c->q = g_new0 (float, nm);
  c->tmp = g_new0 (float, nm);
  c->msg = g_new0 (float, nm);
  c->tmp2 = g_new0 (float, nm);
  c->features = g_new (float, (gsize) c->n * DLS_LATTICE_MAX_DIM);
  return c;
}

void
dls_crf_clear_pairwise (DlsCrf * c)
{
  for (int p = 0; p < c->n_pw; p++) {
    dls_lattice_free (c->pw[p].lattice);
    g_free (c->pw[p].norm);
  }
  c->n_pw = 0;
}

void
dls_crf_free (DlsCrf * c)
{
  if (!c)
    return;
  dls_crf_clear_pairwise (c);
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

static void
add_pairwise (DlsCrf * c, int d, float weight)
{
  Pairwise *p;

  g_return_if_fail (c->n_pw < DLS_CRF_MAX_PAIRWISE);
  p = &c->pw[c->n_pw++];
  p->radius = 0;
  p->lattice = dls_lattice_new (d, c->n);
  p->norm = g_new (float, c->n);
  p->weight = weight;
  dls_lattice_build (p->lattice, c->features, c->n);
  dls_crf_lattice_norm (p->lattice, p->norm);
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

void
dls_crf_add_pairwise_gaussian (DlsCrf * c, float sxy, float weight)
{
  Pairwise *p;

  g_return_if_fail (c->n_pw < DLS_CRF_MAX_PAIRWISE);
  if (sxy > DLS_CRF_SEPARABLE_MAX_SXY) {
    dls_crf_gaussian_features (c->features, c->w, c->h, sxy);
    add_pairwise (c, 2, weight);
    return;
  }
  p = &c->pw[c->n_pw++];
  p->lattice = NULL;
  p->weight = weight;
  p->radius = dls_crf_gaussian_taps (sxy, p->taps);
  p->norm = g_new (float, c->n);
  dls_crf_gaussian_norm (c->w, c->h, p->taps, p->radius, p->norm, c->tmp2);
}

void
dls_crf_add_pairwise_bilateral (DlsCrf * c, float sxy, float srgb,
    const guint8 * rgb, int stride, float weight)
{
  dls_crf_bilateral_features (c->features, c->w, c->h, sxy, srgb, rgb,
      stride);
  add_pairwise (c, 5, weight);
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
dls_crf_step (DlsCrf * c)
{
  const int n = c->n, m = c->m;
  const gsize nm = (gsize) n * m;

  for (gsize i = 0; i < nm; i++)
    c->tmp[i] = -c->unary[i];
  for (int p = 0; p < c->n_pw; p++) {
    const Pairwise *pw = &c->pw[p];

    /* Symmetric normalisation: n (K (n Q)). */
    for (int i = 0; i < n; i++)
      for (int k = 0; k < m; k++)
        c->msg[(gsize) i * m + k] = c->q[(gsize) i * m + k] * pw->norm[i];
    if (pw->radius > 0)
      dls_crf_gaussian_apply (c->w, c->h, pw->taps, pw->radius, c->msg,
          c->msg, c->tmp2, m);
    else
      dls_lattice_apply (pw->lattice, c->msg, c->msg, m);
    /* Potts: the message is -w * filtered, subtracted. */
    for (int i = 0; i < n; i++)
      for (int k = 0; k < m; k++)
        c->tmp[(gsize) i * m + k] -= -pw->weight
            * (c->msg[(gsize) i * m + k] * pw->norm[i]);
  }
  exp_normalize (c->q, c->tmp, n, m);
}

void
dls_crf_inference (DlsCrf * c, int n)
{
  dls_crf_start (c);
  for (int i = 0; i < n; i++)
    dls_crf_step (c);
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
