/* deeplabseg: model readers. Each turns a file into a finalized DlsGraph
 * (gst/graph/graph.h) and nothing else. Every offset, length and index read
 * from a file is validated: a truncated or hostile file gives a GError
 * (DLS_ERROR_*), never a crash. */
#ifndef DLS_MODEL_H
#define DLS_MODEL_H

#include "../graph/graph.h"

G_BEGIN_DECLS

/* Reads @path and picks the reader from the content (TFLite: identifier
 * "TFL3" at byte 4; ONNX: a protobuf whose first field is ir_version). DLS_ERROR_NOT_FOUND if the file cannot be read,
 * DLS_ERROR_NOT_A_MODEL if it is empty or of no known format. */
DlsGraph *dls_model_load (const char *path, GError ** error);

/* dls_model_load() shared by content (SHA-256 of the bytes) across the
 * process: a graph is parsed once for every user of the same bytes, read
 * only, refcounted, freed by the last dls_model_release(). @key (optional)
 * is the model's identity while the graph is held (gst/model/model.c). */
const DlsGraph *dls_model_acquire (const char *path, const char **key,
    GError ** error);
void dls_model_release (const DlsGraph * graph);
guint dls_model_shared_count (void);

/* TFLite FlatBuffer (schema v3) from memory; constants are copied, @data
 * may be freed after the call. */
DlsGraph *dls_tflite_parse (const guint8 * data, gsize size, GError ** error);

/* ONNX ModelProto from memory (gst/model/onnx.c); constants are copied,
 * @data may be freed after the call. */
DlsGraph *dls_onnx_parse (const guint8 * data, gsize size, GError ** error);

G_END_DECLS

#endif /* DLS_MODEL_H */
