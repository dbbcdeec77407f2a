/* deeplabseg tests: the image kernels around the network (kernels/image.cl:
 * preprocess, upsample_argmax) against their C reference
 * (gst/engine/image.c), through the engine, for every pixel format, odd
 * sizes, padded strides, upscaling and downscaling.
 *
 * The network is a synthetic graph built here: one 1x1 convolution whose
 * weights are 0 or 1 with at most one 1 per output channel, so every logit
 * is an exact copy of a normalised input channel (or 0) on both backends.
 * The class maps must then be identical, ties included (many classes are
 * exact copies of each other, so the lowest-id rule is exercised).
 *
 * The confidence plane (round (255 * max softmax), computed by the same
 * kernel) is compared too: within 1 level everywhere, not exactly,
 * because OpenCL's exp() may differ from glibc's expf() by a few ulp
 * (the spec allows 3), which moves a value sitting on a .5 rounding
 * boundary by one level; every other operation is the same float32
 * sequence on both sides. The number of exactly equal pixels is printed.
 * The maps are also checked to be the same with the confidence on as off.
 */
#include <string.h>
#include <sys/mman.h>
#include "engine/engine.h"
#include "backend/opencl.h"
#include "testutil.h"

typedef struct
{
  DlsPixelFormat format;
  const char *name;
} Format;

static const Format formats[] = {
  {DLS_PIXEL_RGB, "RGB"}, {DLS_PIXEL_BGR, "BGR"}, {DLS_PIXEL_RGBX, "RGBx"},
  {DLS_PIXEL_BGRX, "BGRx"}, {DLS_PIXEL_XRGB, "xRGB"},
  {DLS_PIXEL_XBGR, "xBGR"}, {DLS_PIXEL_RGBA, "RGBA"},
  {DLS_PIXEL_BGRA, "BGRA"}, {DLS_PIXEL_ARGB, "ARGB"},
  {DLS_PIXEL_ABGR, "ABGR"}, {DLS_PIXEL_I420, "I420"},
  {DLS_PIXEL_NV12, "NV12"}, {DLS_PIXEL_GRAY8, "GRAY8"},
};

/* Frame sizes: odd, tiny, larger and smaller than the network input. */
static const int sizes[][2] = {
  {321, 241}, {64, 48}, {7, 5}, {1, 1}, {2, 3}, {640, 480},
};

/* A graph: input {1, ih, iw, 3} -> 1x1 conv -> {1, ih, iw, classes};
 * class o copies input channel (o * 7 % 5) when that is < 3, else is 0. */
static DlsGraph *
copy_graph (int iw, int ih, int classes)
{
  DlsGraph *g = dls_graph_new ();
  int in_dims[4] = { 1, ih, iw, 3 };
  int w_dims[4] = { classes, 1, 1, 3 };
  float *w = g_new0 (float, classes * 3);
  DlsNode n;

  for (int o = 0; o < classes; o++)
    if (o * 7 % 5 < 3)
      w[o * 3 + o * 7 % 5] = 1.0f;
  dls_node_init (&n, DLS_OP_CONV2D);
  n.n_inputs = 2;
  n.inputs[0] = dls_graph_add_tensor (g, "input", DLS_TENSOR_ACTIVATION,
      DLS_DTYPE_FLOAT32, 4, in_dims, NULL, 0);
  n.inputs[1] = dls_graph_add_tensor (g, "w", DLS_TENSOR_CONSTANT,
      DLS_DTYPE_FLOAT32, 4, w_dims, w, sizeof (float) * classes * 3);
  n.output = dls_graph_add_tensor (g, "logits", DLS_TENSOR_ACTIVATION,
      DLS_DTYPE_FLOAT32, 0, NULL, NULL, 0);
  dls_graph_add_node (g, &n);
  dls_graph_add_input (g, n.inputs[0]);
  dls_graph_add_output (g, n.output);
  return g;
}

static DlsEngine *
make_engine (DlsBackendKind kind, int iw, int ih, int classes)
{
  DlsEngineOptions opts;
  GError *err = NULL;
  DlsEngine *e;

  dls_engine_options_init (&opts);
  opts.backend = kind;
  e = dls_engine_new_from_graph (copy_graph (iw, ih, classes), &opts, &err);
  if (!e) {
    fprintf (stderr, "engine: %s\n", err->message);
    if (kind == DLS_BACKEND_OPENCL && err->code == DLS_ERROR_NO_DEVICE
        && !dls_test_in_ci ())
      exit (DLS_TEST_SKIP);
    exit (1);
  }
  return e;
}

/* Fills a frame of @f, @w x @h with random bytes in planes of padded
 * stride; with @block > 1 every plane is made of @block x @block squares
 * of one value (regions the class map's shortcut takes, and edges it
 * leaves to the full path). Returns the backing memory. */
static guint8 *
random_frame (DlsImage * img, DlsPixelFormat f, int w, int h, int block,
    GRand * rand)
{
  int bpp = 1, n_planes = 1;
  gsize sizes[3] = { 0 }, total = 0;
  guint8 *mem;

  memset (img, 0, sizeof (*img));
  img->format = f;
  img->width = w;
  img->height = h;
  if (dls_pixel_format_packed (f, &bpp, NULL, NULL, NULL)) {
    img->strides[0] = w * bpp + 5;
  } else {
    int cw = (w + 1) / 2;
    img->strides[0] = w + 3;
    if (f == DLS_PIXEL_I420) {
      img->strides[1] = img->strides[2] = cw + 1;
      n_planes = 3;
    } else {
      img->strides[1] = cw * 2 + 2;
      n_planes = 2;
    }
  }
  for (int p = 0; p < n_planes; p++)
    total += sizes[p] = dls_image_plane_size (f, p, w, h, img->strides[p]);
  mem = g_malloc (total);
  for (gsize i = 0; i < total; i++)
    mem[i] = g_rand_int_range (rand, 0, 256);
  for (int p = 0, off = 0; p < n_planes; off += sizes[p], p++)
    img->planes[p] = mem + off;
  for (int p = 0; p < n_planes && block > 1; p++) {
    int stride = img->strides[p], rows = (int) (sizes[p] / stride);
    /* bytes of one pixel in this plane: packed bpp, NV12's UV 2, else 1 */
    int pb = n_planes == 1 ? bpp : f == DLS_PIXEL_NV12 && p == 1 ? 2 : 1;
    guint8 *pl = mem + (img->planes[p] - mem);

    for (int y = 0; y < rows; y++)
      for (int i = 0; i < stride; i++)
        pl[(gsize) y * stride + i] = pl[(gsize) (y / block * block) * stride
            + i / pb / block * block * pb + i % pb];
  }
  dls_yuv_matrix_init (&img->yuv, 0.2126, 0.0722, FALSE);
  return mem;
}

static int
run_case (DlsEngine * cl, DlsEngine * ref, DlsPixelFormat f,
    const char *fname, int w, int h, int iw, int ih, int classes,
    int block, GRand * rand)
{
  DlsImage img;
  guint8 *mem = random_frame (&img, f, w, h, block, rand);
  int stride = w + 3, cstride = w + 1;
  guint8 *a = g_malloc0 ((gsize) stride * h);
  guint8 *b = g_malloc0 ((gsize) stride * h);
  guint8 *a2 = g_malloc0 ((gsize) stride * h);
  guint8 *ca = g_malloc0 ((gsize) cstride * h);
  guint8 *cb = g_malloc0 ((gsize) cstride * h);
  GError *err = NULL;
  gsize diff = 0, first = 0, cdiff = 0, cexact = 0, map_change = 0;
  int ok, cmax = 0, cmin = 255;

  if (!dls_engine_set_frame (cl, f, w, h, &err)
      || !dls_engine_set_frame (ref, f, w, h, &err)
      || !dls_engine_process (cl, &img, a2, stride, &err)
      || !dls_engine_process_full (cl, &img, a, stride, ca, cstride, &err)
      || !dls_engine_process_full (ref, &img, b, stride, cb, cstride,
          &err)) {
    printf ("%-6s %4dx%-4d block %2d net %3dx%-3d classes %2d  ERROR %s\n",
        fname, w, h, block, iw, ih, classes, err->message);
    g_clear_error (&err);
    ok = 0;
    goto out;
  }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (a[y * stride + x] != b[y * stride + x] && diff++ == 0)
        first = (gsize) y * stride + x;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int d = ABS ((int) ca[y * cstride + x] - (int) cb[y * cstride + x]);

      cmax = MAX (cmax, d);
      cexact += d == 0;
      cdiff += d > 1;
      cmin = MIN (cmin, MIN (ca[y * cstride + x], cb[y * cstride + x]));
      map_change += a[y * stride + x] != a2[y * stride + x];
    }
  ok = diff == 0 && cdiff == 0 && cmin >= 1 && map_change == 0;
  printf ("%-6s %4dx%-4d block %2d net %3dx%-3d classes %2d  differing "
      "pixels %" G_GSIZE_FORMAT ", without confidence %" G_GSIZE_FORMAT
      ", confidence exact %" G_GSIZE_FORMAT " of %d, max |d| %d, min %d  "
      "%s\n", fname, w, h, block, iw, ih, classes, diff, map_change, cexact,
      w * h, cmax, cmin, ok ? "PASS" : "FAIL");
  if (!ok)
    printf ("  first at x=%d y=%d: opencl %d, reference %d\n",
        (int) (first % stride), (int) (first / stride), a[first], b[first]);
out:
  g_free (mem);
  g_free (a);
  g_free (b);
  g_free (a2);
  g_free (ca);
  g_free (cb);
  return ok;
}

/* ---- failures: the engine's state after a failed call ---- */

#define CHECK(cond, ...) G_STMT_START {                                 \
    if (!(cond)) {                                                      \
      printf ("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
      printf (__VA_ARGS__);                                             \
      printf ("\n");                                                    \
      return 0;                                                         \
    }                                                                   \
  } G_STMT_END

/* Processes @img into @map (@conf may be NULL); TRUE on success. */
static gboolean
process (DlsEngine * e, const DlsImage * img, guint8 * map, guint8 * conf)
{
  GError *err = NULL;
  gboolean ok = dls_engine_process_full (e, img, map, img->width, conf,
      img->width, &err);

  if (!ok) {
    printf ("  process: %s\n", err->message);
    g_clear_error (&err);
  }
  return ok;
}

/* dls_engine_set_frame, _set_confidence and _set_crf are all or nothing:
 * with the n-th device buffer made by the call failing (n = 1, 2, ...
 * until the call succeeds), the call fails and the engine still runs
 * frames as before, with the same class maps. */
static int
test_failed_setup (void)
{
  const int w = 64, h = 48, w2 = 100, h2 = 80;
  DlsEngine *e = make_engine (DLS_BACKEND_OPENCL, 37, 29, 3);
  GRand *rand = g_rand_new_with_seed (7);
  DlsImage img;
  guint8 *mem = random_frame (&img, DLS_PIXEL_RGBX, w, h, 9, rand);
  guint8 *want = g_malloc (w * h), *want_crf = g_malloc (w * h);
  guint8 *got = g_malloc (w * h), *conf = g_malloc (w * h);
  DlsCrfParams crf, crf2;
  int n, calls = 0;

  dls_crf_params_init (&crf);
  crf.warm_start = FALSE;       /* every frame the same */
  crf.iterations = 2;
  crf2 = crf;
  crf2.scale = 0.5f;            /* another grid: new buffers */
  CHECK (dls_engine_set_frame (e, DLS_PIXEL_RGBX, w, h, NULL), "set_frame");
  CHECK (process (e, &img, want, NULL), "first frame");

  /* a new frame size, then confidence, then the CRF on, then its grid */
  for (int step = 0; step < 4; step++) {
    for (n = 1;; n++) {
      GError *err = NULL;
      gboolean ok;

      dls_cl_test_fail_buffer (n);
      ok = step == 0 ? dls_engine_set_frame (e, DLS_PIXEL_RGBX, w2, h2, &err)
          : step == 1 ? dls_engine_set_confidence (e, TRUE, &err)
          : dls_engine_set_crf (e, step == 2 ? &crf : &crf2, &err);
      dls_cl_test_fail_buffer (0);
      calls++;
      if (ok)
        break;
      CHECK (err && err->domain == DLS_ERROR, "step %d, buffer %d: no error",
          step, n);
      g_clear_error (&err);
      /* the old state: same size, same settings, same map */
      CHECK (process (e, &img, got, step >= 2 ? conf : NULL),
          "step %d, buffer %d failed: the engine no longer runs", step, n);
      CHECK (memcmp (got, step >= 3 ? want_crf : want, w * h) == 0,
          "step %d, buffer %d failed: the map changed", step, n);
    }
    printf ("step %d: %d device buffers; with each of them failing, the "
        "call failed and the engine ran as before\n", step, n - 1);
    if (step == 0) {
      /* back to the frame the checks use (its buffers made again) */
      CHECK (dls_engine_set_frame (e, DLS_PIXEL_RGBX, w, h, NULL), "back");
      CHECK (n > 1, "set_frame made no device buffer");
    }
    if (step == 2)
      CHECK (process (e, &img, want_crf, conf), "CRF frame");
  }
  /* with the CRF on at the new grid, a failed new frame size still leaves
   * the CRF running at the old one */
  CHECK (process (e, &img, want_crf, conf), "CRF frame (grid 2)");
  for (n = 1; n < 64; n++) {
    gboolean ok;

    dls_cl_test_fail_buffer (n);
    ok = dls_engine_set_frame (e, DLS_PIXEL_RGBX, w2, h2, NULL);
    dls_cl_test_fail_buffer (0);
    if (ok)
      break;
    CHECK (process (e, &img, got, conf), "CRF, buffer %d failed", n);
    CHECK (memcmp (got, want_crf, w * h) == 0, "CRF, buffer %d failed: the "
        "map changed", n);
  }
  printf ("set_frame with the CRF on: %d device buffers, the same\n",
      n - 1);
  CHECK (n > 3, "set_frame with the CRF made only %d buffers", n - 1);
  dls_engine_free (e);
  g_free (mem);
  g_free (want);
  g_free (want_crf);
  g_free (got);
  g_free (conf);
  g_rand_free (rand);
  return calls > 4;
}

/* A frame whose network fails (injected, DLS_TEST_CL_FAIL_RUN) after its
 * upload was enqueued without blocking: dls_engine_process must not return
 * before the device is done with the caller's memory. The frame is large
 * (32 MiB: its copy takes milliseconds) and its pages are made
 * inaccessible as soon as the call returns: a copy still running then
 * crashes the test. */
static int
test_failed_run_keeps_no_host_memory (void)
{
  const int w = 4096, h = 2048;
  const gsize bytes = (gsize) w * h * 4;
  DlsEngine *e;
  DlsImage img;
  guint8 *mem, *map = g_malloc ((gsize) w * h);
  GError *err = NULL;
  gboolean ok;

  g_setenv ("DLS_TEST_CL_FAIL_RUN", "1", TRUE);
  e = make_engine (DLS_BACKEND_OPENCL, 37, 29, 3);
  g_unsetenv ("DLS_TEST_CL_FAIL_RUN");
  mem = mmap (NULL, bytes, PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK (mem != MAP_FAILED, "mmap");
  memset (mem, 90, bytes);
  memset (&img, 0, sizeof (img));
  img.format = DLS_PIXEL_RGBX;
  img.width = w;
  img.height = h;
  img.planes[0] = mem;
  img.strides[0] = w * 4;
  CHECK (dls_engine_set_frame (e, DLS_PIXEL_RGBX, w, h, NULL), "set_frame");
  ok = dls_engine_process (e, &img, map, w, &err);
  mprotect (mem, bytes, PROT_NONE);
  CHECK (!ok && err, "the injected failure did not fail the frame");
  printf ("failed frame: %s\n", err->message);
  g_clear_error (&err);
  /* a copy still queued would fault now, in PoCL's thread */
  dls_engine_free (e);
  munmap (mem, bytes);
  g_free (map);
  return 1;
}

/* dls_ref_frame_rgb (the CRF's colour features) on packed frames against
 * the banner's formula written out here: half-pixel source coordinates
 * clamped to the frame, bilinear as (1 - fy) * top + fy * bottom, rounded
 * to the nearest byte (image.c's fast path for packed frames at another
 * size must give the same bytes). */
static gboolean
test_frame_rgb (GRand * rand)
{
  static const int outs[][2] = { {320, 240}, {7, 5}, {641, 481}, {1, 1} };
  gboolean ok = TRUE;

  for (guint f = 0; f < G_N_ELEMENTS (formats); f++) {
    int bpp, ro, go, bo;

    if (!dls_pixel_format_packed (formats[f].format, &bpp, &ro, &go, &bo))
      continue;
    for (guint o = 0; o < G_N_ELEMENTS (outs); o++) {
      const int ow = outs[o][0], oh = outs[o][1], w = 640, h = 480;
      const int stride = ow * 3 + 1;
      DlsImage img;
      guint8 *mem = random_frame (&img, formats[f].format, w, h, 1, rand);
      guint8 *got = g_malloc ((gsize) stride * oh);
      int bad = 0;

      dls_ref_frame_rgb (&img, ow, oh, got, stride);
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
          for (int c = 0; c < 3; c++) {
            const int off = c == 0 ? ro : c == 1 ? go : bo;
            float sx = ((float) x + 0.5f) * ((float) w / (float) ow) - 0.5f;
            float sy = ((float) y + 0.5f) * ((float) h / (float) oh) - 0.5f;
            int x0, y0, x1, y1;
            float fx, fy, p[2][2], v;

            sx = CLAMP (sx, 0.0f, (float) (w - 1));
            sy = CLAMP (sy, 0.0f, (float) (h - 1));
            x0 = (int) sx;
            y0 = (int) sy;
            x1 = MIN (x0 + 1, w - 1);
            y1 = MIN (y0 + 1, h - 1);
            fx = sx - (float) x0;
            fy = sy - (float) y0;
            for (int j = 0; j < 2; j++)
              for (int i = 0; i < 2; i++)
                p[j][i] = img.planes[0][(gsize) (j ? y1 : y0) * img.strides[0]
                    + (gsize) (i ? x1 : x0) * bpp + off];
            v = (1.0f - fy) * ((1.0f - fx) * p[0][0] + fx * p[0][1])
                + fy * ((1.0f - fx) * p[1][0] + fx * p[1][1]);
            bad += got[(gsize) y * stride + x * 3 + c] != (guint8) (v + 0.5f);
          }
      if (bad) {
        printf ("FAIL: frame_rgb %s 640x480 -> %dx%d: %d bytes differ\n",
            formats[f].name, ow, oh, bad);
        ok = FALSE;
      }
      g_free (got);
      g_free (mem);
    }
  }
  printf ("%s: frame_rgb on packed frames\n", ok ? "ok" : "FAIL");
  return ok;
}

int
main (int argc, char **argv)
{
  /* Network input sizes: the real model's, and a small odd one so frames
   * are both down- and upscaled. */
  static const int nets[][3] = { {257, 257, 21}, {37, 29, 3} };
  static const int blocks[] = { 1, 9, 40 };
  GRand *rand = g_rand_new_with_seed (20261123);
  int failed = 0, total = 0;

  for (guint n = 0; n < G_N_ELEMENTS (nets); n++) {
    int iw = nets[n][0], ih = nets[n][1], classes = nets[n][2];
    DlsEngine *cl = make_engine (DLS_BACKEND_OPENCL, iw, ih, classes);
    DlsEngine *ref = make_engine (DLS_BACKEND_REF, iw, ih, classes);

    if (!dls_engine_set_confidence (cl, TRUE, NULL)
        || !dls_engine_set_confidence (ref, TRUE, NULL))
      return 1;

    /* random pixels, then squares of 9 and 40 (the map without
     * confidence takes the shortcut inside them, image.cl) */
    for (guint f = 0; f < G_N_ELEMENTS (formats); f++)
      for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
        for (guint b = 0; b < G_N_ELEMENTS (blocks); b++) {
          total++;
          failed += !run_case (cl, ref, formats[f].format, formats[f].name,
              sizes[s][0], sizes[s][1], iw, ih, classes, blocks[b], rand);
        }
    dls_engine_free (cl);
    dls_engine_free (ref);
  }
  total += 3;
  failed += !test_frame_rgb (rand);
  g_rand_free (rand);
  failed += !test_failed_setup ();
  failed += !test_failed_run_keeps_no_host_memory ();
  printf ("# %d of %d cases failed\n", failed, total);
  return failed ? 1 : 0;
}
