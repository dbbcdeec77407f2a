/* deeplabseg: the fully connected CRF, C reference (the oracle of the
 * OpenCL path in crf_cl.c and kernels/crf.cl).
 *
 * Model (Krähenbühl & Koltun, "Efficient Inference in Fully
 * Connected CRFs with Gaussian Edge Potentials", NIPS 2011, eq. 1-3):
 *   E(x) = sum_i U_i(x_i) + sum_{i<j} mu(x_i, x_j) sum_m w_m k_m(f_i, f_j)
 *   k_m(f_i, f_j) = exp (-0.5 |f_i - f_j|^2), the features pre-divided by
 *   their standard deviations:
 *     Gaussian (smoothness):  f = (x / sxy, y / sxy)
 *     bilateral (appearance): f = (x / sxy, y / sxy, r / srgb, g / srgb,
 *                                  b / srgb)
 *   Potts compatibility mu(a, b) = [a != b], written as -w [a == b] (the
 *   same energy up to a constant; densecrf's PottsCompatibility).
 *
 * Mean-field inference (ibid. sec. 3, eq. 4; densecrf's inference()):
 *   Q^0_i(l) = softmax_l (-U_i(l))
 *   Q^{t+1}_i(l) = softmax_l (-U_i(l) + sum_m w_m n_m(i) [K_m (n_m Q^t)]_i(l))
 *   with K_m the Gaussian filter of kernel m (self term included, as in
 *   densecrf) and n_m(i) = 1 / sqrt ([K_m 1]_i + 1e-20) the symmetric
 *   normalisation (densecrf NORMALIZE_SYMMETRIC, pydensecrf's default).
 *   softmax subtracts the per-pixel maximum before exp().
 *   Only differences of U within a pixel matter, so U may be -logits
 *   instead of -log softmax (logits): the engine passes -logits.
 *
 * The Gaussian kernel, when sxy <= DLS_CRF_SEPARABLE_MAX_SXY, is applied
 * exactly and separably (it depends on position only): K = Kx Ky with
 * taps exp (-t^2 / (2 sxy^2)) for |t| <= ceil (3 sxy), zero outside the
 * image. There the 2-d lattice has about 3 vertices a pixel and costs
 * more than 2 (2r + 1) taps; labels agree with densecrf's lattice to
 * >= 99.9 % on the demo set. A larger sxy uses the 2-d lattice, as
 * densecrf does.
 * The bilateral kernel is approximated with the permutohedral lattice
 * (Adams,
 * Baek & Davis, "Fast High-Dimensional Filtering Using the Permutohedral
 * Lattice", Eurographics 2010, sec. 3-4), exactly as densecrf's
 * permutohedral.cpp does it:
 *   build (once per image): elevate f onto the hyperplane H_d (p. 5,
 *     y = E f with E's diagonal scale 1/sqrt((i+1)(i+2)) * sqrt(2/3)(d+1),
 *     p. 6), find the enclosing simplex by rounding to the nearest
 *     remainder-0 point and sorting (p. 5), barycentric weights (p. 10),
 *     hash the d+1 vertices (lattice points), then for each of the d+1
 *     lattice directions j the neighbours n1 = key - 1 (key_j + d) and
 *     n2 = key + 1 (key_j - d);
 *   apply (per iteration): splat v_m = sum_i b_ij in_i, blur along each
 *     direction j in turn v_m <- v_m + 0.5 (v_n1 + v_n2) (the [1 2 1]
 *     kernel, missing neighbours count 0), slice out_i = alpha sum_j b_ij
 *     v_m(ij) with alpha = 1 / (1 + 2^-d).
 *
 * Class pruning (the crf-min-class-probability property, eps):
 * DeepLab's softmax is peaked, most of the 21 classes have Q ~ 0 over the
 * whole frame. Each step first takes the active classes A = {l :
 * max_i Q^t_i(l) >= eps} of the current Q; only they get messages (the
 * filters run on |A| values a point instead of the class count), the
 * others' pairwise term is dropped: t_i(l) = -U_i(l) for l not in A.
 * eps = 0 keeps every class (the exact update above, bit for bit).
 * The error of one step, from the same Q^t: the message to class l is
 *   M_i(l) = sum_m w_m n_m(i) sum_j K_m(i, j) n_m(j) Q^t_j(l)
 * (K_m has no negative entries, the lattice's too), so for l not in A
 *   0 <= M_i(l) < eps sum_m w_m s_m(i) <= B,  s_m(i) = n_m(i) [K_m n_m]_i,
 *   B = eps sum_m w_m max_i s_m(i)
 * (s ~ 1 under the symmetric normalisation). Dropping logits by
 * delta_l in [0, B) gives, with Q_i the exact update, Q'_i the pruned one
 * and P_i = sum_{l not in A} Q_i(l) (Q' = Q e^{-delta} / D,
 * D = sum_k Q_i(k) e^{-delta_k} in [1 - P_i (1 - e^{-B}), 1]):
 *   k in A:      0 <= Q'_i(k) - Q_i(k) <= Q_i(k) P_i (e^B - 1)
 *   l not in A:  |Q'_i(l) - Q_i(l)| <= Q_i(l) (e^B - 1)
 * hence the argmax is kept wherever the top two Q differ by more than
 * the sum of their bounds. With eps = 1e-3, the default weights 3 and 4
 * and max s 1.01 and 1.30 (DAVIS frames): B = 8.3e-3, and an active
 * class moves by at most 8.3e-3 Q P_i (P_i, the pruned classes' mass,
 * stays below 1e-3 on DeepLab's Q there). Later steps start
 * from a Q' that differs; this bound is per step (test_crf_prune.py
 * checks it on real frames). Both paths (crf.c, kernels/crf.cl) apply
 * the same rule; the OpenCL path decides A on the device.
 *
 * Layouts: every per-pixel array is pixel-major with the n_classes values
 * of a pixel contiguous (densecrf's Eigen M x N column-major), pixels in
 * row-major order; RGB images are 3 bytes a pixel, rows @stride apart.
 */
#ifndef DLS_CRF_H
#define DLS_CRF_H

#include <glib.h>

G_BEGIN_DECLS

/* ---- parameters (the element's crf-* properties) ---- */

typedef struct
{
  int iterations;               /* mean-field iterations a (cold) frame */
  float gaussian_sxy;           /* Gaussian kernel: position std (pixels) */
  float gaussian_weight;        /* its Potts weight (pydensecrf's compat) */
  float bilateral_sxy;          /* bilateral kernel: position std */
  float bilateral_srgb;         /* bilateral kernel: colour std (0..255) */
  float bilateral_weight;       /* its Potts weight */
  gboolean warm_start;          /* start from the previous frame's Q */
  int warm_iterations;          /* iterations a warm frame */
  float scale;                  /* CRF grid / frame size (0.05..1); the sxy
                                 * are in frame pixels */
  float min_class_probability;  /* eps of the class pruning (0..0.01, 0 =
                                 * every class), see above */
} DlsCrfParams;

/* The defaults of the element's crf-* properties (the one definition;
 * gstdeeplabseg.c's DEFAULT_PROP_CRF_* are these): DeepLab-v2's VOC
 * setting (Gaussian sxy 1 w 3, bilateral sxy 67 srgb 3 w 4). On the shared
 * VOC images with the shared model it raised mean mIoU by 0.35 points,
 * where the pydensecrf demo's (3/3, 80/13/10) lowered it by 3.86
 * (tests/python/test_crf_model.py prints both). Scale: half the frame
 * size, about the same mean mIoU gain (+0.35 vs +0.37 points at full
 * size) at a quarter of the CRF's cost. */
#define DLS_CRF_DEFAULT_ITERATIONS 5
#define DLS_CRF_DEFAULT_GAUSSIAN_SXY 1.0f
#define DLS_CRF_DEFAULT_GAUSSIAN_WEIGHT 3.0f
#define DLS_CRF_DEFAULT_BILATERAL_SXY 67.0f
#define DLS_CRF_DEFAULT_BILATERAL_SRGB 3.0f
#define DLS_CRF_DEFAULT_BILATERAL_WEIGHT 4.0f
#define DLS_CRF_DEFAULT_WARM_START TRUE
#define DLS_CRF_DEFAULT_WARM_ITERATIONS 1
#define DLS_CRF_DEFAULT_SCALE 0.5f
/* Class pruning: a class gets messages while its Q reaches 1e-3
 * somewhere (docs/performance.md, Dense CRF: the choice). Also the
 * default of dls_crf_new() and of every dls_crf_params_init*(). */
#define DLS_CRF_DEFAULT_MIN_CLASS_PROBABILITY 1e-3f
#define DLS_CRF_MAX_MIN_CLASS_PROBABILITY 0.01f

/* The pydensecrf demo's setting (DeepLab's VOC CRF): Gaussian sxy 3, w 3;
 * bilateral sxy 80, srgb 13, w 10; 5 iterations; scale 1. */
void dls_crf_params_init (DlsCrfParams * p);
/* DeepLab-v2's VOC setting (the DLS_CRF_DEFAULT_* parameters) at scale
 * 1: Gaussian sxy 1, w 3; bilateral sxy 67, srgb 3, w 4; 5 iterations. */
void dls_crf_params_init_deeplab_v2 (DlsCrfParams * p);
/* The element's defaults: every DLS_CRF_DEFAULT_* (scale 0.5). */
void dls_crf_params_init_default (DlsCrfParams * p);
gboolean dls_crf_params_valid (const DlsCrfParams * p, GError ** error);

/* Zeroed memory for @n elements of @size (g_free it); NULL on overflow or
 * when it cannot be allocated (the CRF's tables grow with the frame: no
 * g_new abort on a huge size). */
gpointer dls_crf_alloc (gsize n, gsize size);

/* ---- permutohedral lattice ---- */

#define DLS_LATTICE_MAX_DIM 5

typedef struct _DlsLattice DlsLattice;

/* A lattice for up to @max_points points of dimension @d (1..5); the
 * memory for that many points is allocated here (NULL when it cannot be),
 * but the hashed build's (below), allocated by a build that needs it.
 * Builds of 4096 points or more run on two threads (the lattice keeps a
 * worker thread). */
DlsLattice *dls_lattice_new (int d, int max_points);
void dls_lattice_free (DlsLattice * l);
/* Builds the lattice of @n points, @features n x d floats (already divided
 * by the standard deviations), reusing the lattice's storage. FALSE if @n
 * is out of range or the hash table could not grow (out of memory). */
gboolean dls_lattice_build (DlsLattice * l, const float *features, int n);
/* out = K in, @in and @out n x @value_size (may be the same array).
 * FALSE when its scratch could not be allocated. */
gboolean dls_lattice_apply (DlsLattice * l, float *out, const float *in,
    int value_size);
int dls_lattice_dim (const DlsLattice * l);
int dls_lattice_n_points (const DlsLattice * l);
/* Number of lattice points (vertices) of the last build. */
int dls_lattice_n_vertices (const DlsLattice * l);
/* The most vertices a build can have: max_points * (d + 1). */
int dls_lattice_max_vertices (const DlsLattice * l);
/* Tables of the last build, for the OpenCL path:
 *   offsets[i * (d + 1) + j]: vertex of point i's j-th simplex corner;
 *   weights[i * (d + 1) + j]: its barycentric weight;
 *   neighbours[(j * M + m) * 2 + 0/1]: n1/n2 of vertex m along direction
 *     j, -1 when absent.
 * These and the splat's tables below are allocated by dls_lattice_new()
 * at their largest (offsets, weights, splat points and weights: V =
 * dls_lattice_max_vertices() entries; start V + 2; neighbours V * (d + 1)
 * * 2) and never move: every build writes into the same arrays, so the
 * OpenCL path wraps them in device buffers once (crf_cl.c). */
const int *dls_lattice_offsets (const DlsLattice * l);
const float *dls_lattice_weights (const DlsLattice * l);
const int *dls_lattice_neighbours (const DlsLattice * l);
/* The splat's gather lists (CSR) of the last build: the entries of
 * vertex v are start[v] .. start[v + 1] - 1 of points (a point splatting
 * onto v, in increasing order) and weights (its barycentric weight);
 * start has m + 2 entries, start[m + 1] = start[m] (an empty list). */
const int *dls_lattice_splat_start (const DlsLattice * l);
const int *dls_lattice_splat_points (const DlsLattice * l);
const float *dls_lattice_splat_weights (const DlsLattice * l);
/* The lattice coordinates (d ints) of vertex @v of the last build. */
void dls_lattice_vertex_key (const DlsLattice * l, int v, int *key);
/* The vertex ids are the lexicographic order of the vertex keys (the
 * sorted build) unless the keys do not pack into 64 bits: then the hashed
 * build's insertion order (densecrf's), which tests can force with
 * dls_lattice_set_hashed(); dls_lattice_is_sorted() tells which ran. */
void dls_lattice_set_hashed (DlsLattice * l, gboolean hashed);
gboolean dls_lattice_is_sorted (const DlsLattice * l);
/* Points per vector of the build's simplices: 8 (x86 with AVX2) or 4; 4
 * also when the environment has DLS_TEST_LATTICE_LANES=4 at
 * dls_lattice_new() (tests: both widths give the same bits). */
int dls_lattice_simplex_lanes (const DlsLattice * l);

/* ---- mean-field CRF (densecrf's DenseCRF2D API) ---- */

typedef struct _DlsCrf DlsCrf;

#define DLS_CRF_MAX_PAIRWISE 4

/* NULL when the per-pixel arrays cannot be allocated. The functions
 * below returning gboolean return FALSE only when out of memory. */
DlsCrf *dls_crf_new (int width, int height, int n_classes);
void dls_crf_free (DlsCrf * c);
/* @unary: energies U, width * height * n_classes (copied). */
void dls_crf_set_unary (DlsCrf * c, const float *unary);
/* Pairwise terms; the lattice is built here (once per image). Lattices
 * cleared by dls_crf_clear_pairwise() are kept and rebuilt in place by
 * the next frame's terms. */
gboolean dls_crf_add_pairwise_gaussian (DlsCrf * c, float sxy,
    float weight);
gboolean dls_crf_add_pairwise_bilateral (DlsCrf * c, float sxy, float srgb,
    const guint8 * rgb, int stride, float weight);
void dls_crf_clear_pairwise (DlsCrf * c);
/* Q = softmax (-U) (densecrf's startInference). */
void dls_crf_start (DlsCrf * c);
/* Replaces Q (warm start: a previous frame's Q). */
void dls_crf_set_q (DlsCrf * c, const float *q);
/* One mean-field update of Q (stepInference). */
gboolean dls_crf_step (DlsCrf * c);
/* The class pruning's eps (crf.h top; 0..0.01, 0 = every class);
 * dls_crf_new() sets DLS_CRF_DEFAULT_MIN_CLASS_PROBABILITY. */
void dls_crf_set_min_class_probability (DlsCrf * c, float eps);
/* Classes that got messages in the last step (all before any step). */
int dls_crf_n_active (const DlsCrf * c);
/* start + @n steps. */
gboolean dls_crf_inference (DlsCrf * c, int n);
const float *dls_crf_q (const DlsCrf * c);
/* Argmax of Q per pixel (ties: lowest class) into @map; @conf (nullable)
 * gets round (255 * max_k Q_k), the CRF's confidence. */
void dls_crf_map (const DlsCrf * c, guint8 * map, int map_stride,
    guint8 * conf, int conf_stride);

/* The separable Gaussian: taps[0..r] for @sxy (returns r, at most
 * DLS_CRF_MAX_RADIUS); out = K in (@in and @out w x h x @vs, may be the
 * same; @tmp the same size); norm = 1 / sqrt (K 1 + 1e-20) (@tmp: w x h). */
#define DLS_CRF_MAX_RADIUS 63
#define DLS_CRF_SEPARABLE_MAX_SXY 2.0f
int dls_crf_gaussian_taps (float sxy, float *taps);
void dls_crf_gaussian_apply (int w, int h, const float *taps, int r,
    float *out, const float *in, float *tmp, int vs);
void dls_crf_gaussian_norm (int w, int h, const float *taps, int r,
    float *norm, float *tmp);

/* Features of the two kernels for a width x height image (n x 2 and n x 5
 * floats), shared by the reference and the OpenCL path. */
void dls_crf_gaussian_features (float *f, int width, int height, float sxy);
void dls_crf_bilateral_features (float *f, int width, int height, float sxy,
    float srgb, const guint8 * rgb, int stride);
/* norm[i] = 1 / sqrt ([K 1]_i + 1e-20) (symmetric normalisation). */
gboolean dls_crf_lattice_norm (DlsLattice * l, float *norm);

G_END_DECLS

#endif /* DLS_CRF_H */
