/* deeplabseg: the backend boundary.
 *
 * A backend consumes a finalized DlsGraph and nothing else. Two exist:
 * ref.c (plain C, every op, the oracle every faster path is tested against)
 * and opencl.c (what the element runs). prepare() does all one-time work
 * (weight upload and repacking, memory planning, kernel builds); run() only
 * computes, with no allocation.
 */
#ifndef DLS_BACKEND_H
#define DLS_BACKEND_H

#include "../graph/graph.h"

G_BEGIN_DECLS

typedef struct _DlsBackend DlsBackend;

typedef struct
{
  const char *name;
  /* Checks every node is supported (DLS_ERROR_UNSUPPORTED naming the op
   * otherwise), uploads constants, plans memory. @g must outlive @be.
   * Called once per backend: another graph needs another backend. */
  gboolean (*prepare) (DlsBackend * be, const DlsGraph * g, GError ** error);
  /* @data: dense NHWC float32 of graph input @index's shape. */
  gboolean (*set_input) (DlsBackend * be, int index, const float *data,
      GError ** error);
  gboolean (*run) (DlsBackend * be, GError ** error);
  /* @data: dense NHWC float32 of graph output @index's shape. */
  gboolean (*get_output) (DlsBackend * be, int index, float *data,
      GError ** error);
  void (*free) (DlsBackend * be);
} DlsBackendVTable;

struct _DlsBackend
{
  const DlsBackendVTable *vt;
};

static inline gboolean
dls_backend_prepare (DlsBackend * be, const DlsGraph * g, GError ** error)
{
  return be->vt->prepare (be, g, error);
}

static inline gboolean
dls_backend_set_input (DlsBackend * be, int index, const float *data,
    GError ** error)
{
  return be->vt->set_input (be, index, data, error);
}

static inline gboolean
dls_backend_run (DlsBackend * be, GError ** error)
{
  return be->vt->run (be, error);
}

static inline gboolean
dls_backend_get_output (DlsBackend * be, int index, float *data,
    GError ** error)
{
  return be->vt->get_output (be, index, data, error);
}

static inline void
dls_backend_free (DlsBackend * be)
{
  if (be)
    be->vt->free (be);
}

/* The C reference backend (ref.c). */
DlsBackend *dls_backend_ref_new (void);

/* Reference implementation of one node on dense NHWC host buffers;
 * @inputs[i] is the data of node->inputs[i] (constants included, NULL for
 * an absent optional input). Used by ref.c and by tests. */
void dls_ref_run_node (const DlsGraph * g, const DlsNode * node,
    const float *const *inputs, float *output);

G_END_DECLS

#endif /* DLS_BACKEND_H */
