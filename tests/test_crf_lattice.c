/* deeplabseg tests: the permutohedral lattice's sorted build (gst/crf/crf.c)
 * against its hashed build (densecrf's construction: a hash table of the
 * vertex keys in point order, hash lookups of the neighbours), which the
 * lattice keeps for keys that do not pack into 64 bits.
 *
 * For each feature set the lattice is built twice, sorted and hashed
 * (dls_lattice_set_hashed()); the hashed build's ids (insertion order) are
 * mapped to the sorted build's through the vertex keys. Asserts:
 *   - the sorted build ran (or, for features whose keys cannot pack, that
 *     both fell back to hashing), the same number of vertices;
 *   - sorted ids are the lexicographic order of the keys (strictly
 *     increasing), and every hashed key is one of them;
 *   - each point's d + 1 vertices are the same keys, weights the same bits,
 *     and they are densecrf's (its scalar PermutohedralLattice::init
 *     here: the lattice computes the simplices several points at a
 *     time, which both builds share: 8 with AVX2, 4 on the baseline x86-64
 *     and with DLS_TEST_LATTICE_LANES=4, the test crf-lattice-4-lanes);
 *   - each vertex's n1 / n2 along each of the d + 1 directions are the
 *     same vertices (or both absent), and n1 = key + e_j;
 *   - each vertex's gather list (points in increasing order, weights) is
 *     the same, start[m + 1] = start[m] = n (d + 1);
 *   - dls_lattice_apply() gives the same floats bit for bit (ids do not
 *     change any sum's terms or order);
 *   - dls_crf_lattice_norm(), whose splat of ones is the sums the build
 *     forms (its two threads share a vertex at their seam), is bit for
 *     bit 1 / sqrt (apply (ones) + 1e-20) on both builds, and again the
 *     same when called twice.
 * Feature sets: a DAVIS blackswan frame at 320x240 (the element's default
 * bilateral parameters at crf-scale 0.5: sxy 33.5, srgb 3) and its 2-d
 * Gaussian lattice (sxy 5); flat bars (runs of points with one simplex);
 * random features for d = 1..5 on two threads
 * and on one (below 4,096 points), negative and offset ones, counts that
 * leave partial blocks of four; features too spread to pack (both builds
 * hashed).
 */
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <math.h>
#include "crf/crf.h"
#include "testutil.h"

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
      printf ("FAIL %s:%d: ", __FILE__, __LINE__); printf (__VA_ARGS__); \
      printf ("\n"); return; } } while (0)

static int
key_cmp (const int *a, const int *b, int d)
{
  for (int c = 0; c < d; c++)
    if (a[c] != b[c])
      return a[c] < b[c] ? -1 : 1;
  return 0;
}

/* The vertex with key @k among @keys (sorted, @m of them), or -1. */
static int
find_key (const int *keys, int m, int d, const int *k)
{
  int lo = 0, hi = m - 1;

  while (lo <= hi) {
    const int mid = (lo + hi) / 2, c = key_cmp (keys + (gsize) mid * d, k, d);

    if (c == 0)
      return mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

/* densecrf's PermutohedralLattice::init for one point @f, in scalar code
 * (Adams et al. 2010, p. 5-6 and 10): the keys of its d + 1 vertices
 * (@key, (d + 1) x d) and its barycentric weights (@bary, d + 1). The
 * lattice computes several points at a time; this is the independent
 * check of its simplices, which both of its builds share. */
static void
densecrf_simplex (const float *f, int d, int *key, float *bary)
{
  const int d1 = d + 1;
  const float inv_std_dev = sqrtf (2.0f / 3.0f) * (float) d1;
  float elevated[DLS_LATTICE_MAX_DIM + 1], rem0[DLS_LATTICE_MAX_DIM + 1];
  float b[DLS_LATTICE_MAX_DIM + 2] = { 0 };
  int rank[DLS_LATTICE_MAX_DIM + 1] = { 0 };
  float sm = 0.0f;
  int sum = 0;

  for (int j = d; j > 0; j--) {
    float cf = f[j - 1] * ((float) (1.0 / sqrt ((double) ((j + 1) * j)))
        * inv_std_dev);
    elevated[j] = sm - (float) j *cf;
    sm += cf;
  }
  elevated[0] = sm;
  for (int i = 0; i <= d; i++) {
    float v = (1.0f / (float) d1) * elevated[i];
    float up = ceilf (v) * (float) d1, down = floorf (v) * (float) d1;
    int rd = up - elevated[i] < elevated[i] - down ? (int) up : (int) down;

    rem0[i] = (float) rd;
    sum = (int) ((float) sum + (float) rd * (1.0f / (float) d1));
  }
  for (int i = 0; i < d; i++) {
    double di = elevated[i] - rem0[i];
    for (int j = i + 1; j <= d; j++)
      if (di < elevated[j] - rem0[j])
        rank[i]++;
      else
        rank[j]++;
  }
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
  for (int i = 0; i <= d; i++) {
    float v = (elevated[i] - rem0[i]) * (1.0f / (float) d1);
    b[d - rank[i]] += v;
    b[d - rank[i] + 1] -= v;
  }
  b[0] += 1.0f + b[d + 1];
  for (int r = 0; r <= d; r++) {
    bary[r] = b[r];
    /* the canonical simplex's vertex r: r, or r - (d + 1) for the
     * coordinates whose rank is above d - r */
    for (int c = 0; c < d; c++)
      key[r * d + c] = (int) rem0[c] + (rank[c] > d - r ? r - d1 : r);
  }
}

/* @s (the default build) against @h (hashed); @packs: the sorted build
 * must have run. */
static void
compare_lattices (const char *what, const float *f, DlsLattice * s,
    DlsLattice * h, int n, int d, gboolean packs)
{
  const int d1 = d + 1, m = dls_lattice_n_vertices (s);
  const gsize nd = (gsize) n * d1;
  const int *so = dls_lattice_offsets (s), *ho = dls_lattice_offsets (h);
  const int *sn = dls_lattice_neighbours (s), *hn = dls_lattice_neighbours (h);
  const int *ss = dls_lattice_splat_start (s), *hs = dls_lattice_splat_start (h);
  const int *sp = dls_lattice_splat_points (s), *hp = dls_lattice_splat_points (h);
  const float *sw = dls_lattice_splat_weights (s);
  const float *hw = dls_lattice_splat_weights (h);
  g_autofree int *keys = g_new (int, (gsize) MAX (m, 1) * d);
  g_autofree int *map = g_new (int, MAX (m, 1));
  g_autofree float *in = g_new (float, n * 3);
  g_autofree float *out_s = g_new (float, n * 3);
  g_autofree float *out_h = g_new (float, n * 3);
  int k[DLS_LATTICE_MAX_DIM];

  CHECK (dls_lattice_is_sorted (s) == packs && !dls_lattice_is_sorted (h),
      "%s: sorted build %d, expected %d", what, dls_lattice_is_sorted (s),
      packs);
  CHECK (dls_lattice_n_vertices (h) == m && m > 0,
      "%s: %d vertices sorted, %d hashed", what, m,
      dls_lattice_n_vertices (h));
  for (int v = 0; v < m; v++)
    dls_lattice_vertex_key (s, v, keys + (gsize) v * d);
  if (packs)
    for (int v = 1; v < m; v++)
      CHECK (key_cmp (keys + (gsize) (v - 1) * d, keys + (gsize) v * d,
              d) < 0, "%s: keys of vertices %d, %d not increasing", what,
          v - 1, v);
  /* map: hashed id -> sorted id, through the keys */
  if (packs)
    for (int u = 0; u < m; u++) {
      dls_lattice_vertex_key (h, u, k);
      map[u] = find_key (keys, m, d, k);
      CHECK (map[u] >= 0, "%s: hashed vertex %d's key not in the sorted "
          "build", what, u);
  } else
    for (int u = 0; u < m; u++)
      map[u] = u;
  for (gsize e = 0; e < nd; e++)
    CHECK (so[e] == map[ho[e]], "%s: point %zu corner %zu: vertex %d, "
        "hashed %d (-> %d)", what, e / d1, e % d1, so[e], ho[e], map[ho[e]]);
  CHECK (memcmp (dls_lattice_weights (s), dls_lattice_weights (h),
          nd * sizeof (float)) == 0, "%s: barycentric weights differ", what);
  for (int j = 0; j <= d; j++)
    for (int u = 0; u < m; u++)
      for (int t = 0; t < 2; t++) {
        const int a = hn[((gsize) j * m + u) * 2 + t];
        const int b = sn[((gsize) j * m + map[u]) * 2 + t];

        CHECK (b == (a < 0 ? -1 : map[a]), "%s: direction %d vertex %d "
            "n%d: %d, hashed %d (-> %d)", what, j, map[u], t + 1, b, a,
            a < 0 ? -1 : map[a]);
        if (t == 0 && b >= 0)
          for (int c = 0; c < d; c++)
            CHECK (keys[(gsize) b * d + c] == keys[(gsize) map[u] * d + c]
                + (c == j ? d : -1), "%s: n1 of %d along %d is not key + "
                "e_j", what, map[u], j);
      }
  CHECK (ss[0] == 0 && ss[m] == (int) nd && ss[m + 1] == (int) nd,
      "%s: start[0] %d start[m] %d start[m + 1] %d, n (d + 1) %zu", what,
      ss[0], ss[m], ss[m + 1], nd);
  for (int u = 0; u < m; u++) {
    const int v = map[u], len = hs[u + 1] - hs[u];

    CHECK (ss[v + 1] - ss[v] == len, "%s: vertex %d: list of %d, hashed "
        "%d", what, v, ss[v + 1] - ss[v], len);
    CHECK (memcmp (sp + ss[v], hp + hs[u], sizeof (int) * len) == 0
        && memcmp (sw + ss[v], hw + hs[u], sizeof (float) * len) == 0,
        "%s: vertex %d: gather list differs", what, v);
    for (int i = ss[v] + 1; i < ss[v + 1]; i++)
      CHECK (sp[i - 1] < sp[i], "%s: vertex %d: points not increasing",
          what, v);
    for (int i = ss[v]; i < ss[v + 1]; i++) {
      int j = 0;

      while (j < d1 && so[(gsize) sp[i] * d1 + j] != v)
        j++;
      CHECK (j < d1 && sw[i] == dls_lattice_weights (s)[(gsize) sp[i] * d1
              + j], "%s: vertex %d lists point %d, not one of its "
          "vertices or another weight", what, v, sp[i]);
    }
  }
  /* each point's vertices and weights: densecrf's scalar code */
  for (int i = 0; i < n; i++) {
    int want[(DLS_LATTICE_MAX_DIM + 1) * DLS_LATTICE_MAX_DIM];
    float bary[DLS_LATTICE_MAX_DIM + 1];

    densecrf_simplex (f + (gsize) i * d, d, want, bary);
    for (int r = 0; r <= d; r++) {
      dls_lattice_vertex_key (s, so[(gsize) i * d1 + r], k);
      CHECK (key_cmp (k, want + r * d, d) == 0, "%s: point %d corner %d: "
          "not densecrf's vertex", what, i, r);
    }
    CHECK (memcmp (bary, dls_lattice_weights (s) + (gsize) i * d1,
            sizeof (float) * d1) == 0, "%s: point %d: not densecrf's "
        "barycentric weights", what, i);
  }
  /* the filter itself, 3 values a point: bit for bit */
  for (int i = 0; i < n * 3; i++)
    in[i] = (float) ((i * 7919) % 1000) / 1000.0f;
  CHECK (dls_lattice_apply (s, out_s, in, 3)
      && dls_lattice_apply (h, out_h, in, 3), "%s: apply failed", what);
  CHECK (memcmp (out_s, out_h, sizeof (float) * n * 3) == 0,
      "%s: apply differs", what);
  /* the normalisation: the build's splat sums against a splat of ones */
  for (int i = 0; i < n; i++)
    in[i] = 1.0f;
  CHECK (dls_lattice_apply (s, out_s, in, 1), "%s: apply failed", what);
  for (int i = 0; i < n; i++)
    out_s[i] = (float) (1.0 / sqrt (out_s[i] + 1e-20));
  for (int t = 0; t < 2; t++) {
    DlsLattice *l = t ? h : s;

    for (int k = 0; k < 2; k++) {
      CHECK (dls_crf_lattice_norm (l, out_h), "%s: norm failed", what);
      for (int i = 0; i < n; i++)
        CHECK (memcmp (&out_h[i], &out_s[i], sizeof (float)) == 0,
            "%s: %s build, call %d: point %d: norm %.9g, want %.9g",
            what, t ? "hashed" : "sorted", k + 1, i, out_h[i], out_s[i]);
    }
  }
}

/* Both builds of @f (@n points x @d) compared. */
static void
compare_builds (const char *what, const float *f, int n, int d,
    gboolean packs)
{
  DlsLattice *s = dls_lattice_new (d, n), *h = dls_lattice_new (d, n);

  if (!s || !h || !dls_lattice_build (s, f, n)
      || (dls_lattice_set_hashed (h, TRUE), !dls_lattice_build (h, f, n))) {
    failures++;
    printf ("FAIL %s: no lattice\n", what);
  } else {
    int before = failures;

    compare_lattices (what, f, s, h, n, d, packs);
    printf ("%-46s %7d points %8d vertices, %s: %s\n", what, n,
        dls_lattice_n_vertices (s), dls_lattice_is_sorted (s) ? "sorted"
        : "hashed", failures == before ? "same" : "DIFFERENT");
  }
  dls_lattice_free (s);
  dls_lattice_free (h);
}

/* A DAVIS frame scaled to @w x @h RGB (NULL if absent). */
static guint8 *
davis_frame (int w, int h)
{
  g_autofree char *path =
      dls_test_shared_path ("data/davis/blackswan/JPEGImages/00047.jpg");
  g_autofree char *desc = g_strdup_printf ("filesrc location=\"%s\" ! "
      "jpegdec ! videoconvert ! videoscale ! video/x-raw,format=RGB,"
      "width=%d,height=%d ! appsink name=sink", path, w, h);
  GstElement *pipe = gst_parse_launch (desc, NULL), *sink;
  GstSample *sample;
  GstMapInfo map;
  guint8 *rgb = NULL;

  if (!pipe)
    return NULL;
  sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  sample = gst_app_sink_pull_sample (GST_APP_SINK (sink));
  if (sample && gst_buffer_map (gst_sample_get_buffer (sample), &map,
          GST_MAP_READ)) {
    /* RGB rows are padded to 4 bytes: 320 x 3 is a multiple */
    if (map.size == (gsize) w * h * 3)
      rgb = g_memdup2 (map.data, map.size);
    gst_buffer_unmap (gst_sample_get_buffer (sample), &map);
  }
  if (sample)
    gst_sample_unref (sample);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipe);
  return rgb;
}

static void
random_features (float *f, int n, int d, float lo, float hi, GRand * r)
{
  for (gsize i = 0; i < (gsize) n * d; i++)
    f[i] = (float) g_rand_double_range (r, lo, hi);
}

int
main (int argc, char **argv)
{
  const int w = 320, h = 240, n = w * h;
  g_autofree float *f = g_new (float, (gsize) n * DLS_LATTICE_MAX_DIM);
  g_autofree guint8 *rgb = NULL;
  GRand *r = g_rand_new_with_seed (6);
  char what[96];

  gst_init (&argc, &argv);
  /* the width under test: the widest the CPU runs unless the environment
   * asks for the baseline's */
  {
    DlsLattice *l = dls_lattice_new (5, 1);
    const int lanes = dls_lattice_simplex_lanes (l);
    const gboolean four = g_strcmp0 (g_getenv ("DLS_TEST_LATTICE_LANES"),
        "4") == 0;
    int want = 4;

#if defined (__x86_64__) || defined (__i386__)
    if (!four && __builtin_cpu_supports ("avx2"))
      want = 8;
#endif
    dls_lattice_free (l);
    printf ("simplices %d points at a time\n", lanes);
    if (lanes != want) {
      printf ("FAIL: %d lanes, not %d\n", lanes, want);
      return 1;
    }
  }
  if (!(rgb = davis_frame (w, h))) {
    printf ("FAIL: cannot decode the DAVIS frame\n");
    return 1;
  }
  dls_crf_bilateral_features (f, w, h, 33.5f, 3.0f, rgb, w * 3);
  compare_builds ("DAVIS 320x240 bilateral sxy 33.5 srgb 3", f, n, 5, TRUE);
  dls_crf_bilateral_features (f, w, h, 80.0f, 13.0f, rgb, w * 3);
  compare_builds ("DAVIS 320x240 bilateral sxy 80 srgb 13", f, n, 5, TRUE);
  dls_crf_gaussian_features (f, w, h, 5.0f);
  compare_builds ("320x240 Gaussian sxy 5", f, n, 2, TRUE);
  /* seven flat bars (videotestsrc's): most points share the previous
   * point's simplex, which the sorted build sorts once per run */
  for (int i = 0; i < n * 3; i++)
    rgb[i] = (guint8) ((((i / 3) % w) * 7 / w) & (1 << (2 - i % 3)) ? 191
        : 0);
  dls_crf_bilateral_features (f, w, h, 33.5f, 3.0f, rgb, w * 3);
  compare_builds ("320x240 bars bilateral sxy 33.5 srgb 3", f, n, 5, TRUE);
  for (int d = 1; d <= DLS_LATTICE_MAX_DIM; d++) {
    /* two threads (>= 4,096 points), one; negative and offset features */
    random_features (f, 20000, d, 0.0f, 12.0f, r);
    g_snprintf (what, sizeof (what), "random d %d [0, 12)", d);
    compare_builds (what, f, 20000, d, TRUE);
    random_features (f, 1001, d, -3.0f, 3.0f, r);
    g_snprintf (what, sizeof (what), "random d %d [-3, 3), 1 thread", d);
    compare_builds (what, f, 1001, d, TRUE);
    /* halves of 2,501 and 2,502 points: partial blocks of 4 and 8 */
    random_features (f, 5003, d, 900.0f, 1000.0f, r);
    g_snprintf (what, sizeof (what), "random d %d [900, 1000)", d);
    compare_builds (what, f, 5003, d, TRUE);
    random_features (f, 1, d, 0.0f, 1.0f, r);
    g_snprintf (what, sizeof (what), "random d %d, 1 point", d);
    compare_builds (what, f, 1, d, TRUE);
  }
  /* five coordinates spanning ~2^22 lattice steps each: no 64-bit key */
  random_features (f, 8000, 5, -1e5f, 1e5f, r);
  compare_builds ("random d 5 [-1e5, 1e5): keys do not pack", f, 8000, 5,
      FALSE);
  g_rand_free (r);
  printf ("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
