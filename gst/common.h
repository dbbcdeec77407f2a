/* deeplabseg: error domain shared by every layer (model readers, graph,
 * backends, engine). The element turns these into GST_ELEMENT_ERROR. */
#ifndef DLS_COMMON_H
#define DLS_COMMON_H

#include <glib.h>

G_BEGIN_DECLS

#define DLS_ERROR (dls_error_quark ())

/**
 * DlsError:
 * @DLS_ERROR_NOT_FOUND: a file (model, labels) is missing or unreadable.
 * @DLS_ERROR_NOT_A_MODEL: the file is not a model we know (bad magic, empty).
 * @DLS_ERROR_CORRUPT: the file is truncated or an offset, length or index in
 *   it points outside the file or the tables it references.
 * @DLS_ERROR_UNSUPPORTED: an operator, data type or option we cannot run;
 *   the message names it.
 * @DLS_ERROR_INVALID_GRAPH: the graph is well formed on disk but inconsistent
 *   (shapes that do not match, a tensor used before it is produced...).
 * @DLS_ERROR_NO_DEVICE: no OpenCL platform or no device matching the request.
 * @DLS_ERROR_KERNEL_BUILD: an OpenCL program failed to build; the message
 *   carries the build log.
 * @DLS_ERROR_DEVICE: an OpenCL call failed at run time.
 * @DLS_ERROR_INVALID_ARGUMENT: a caller passed a value out of range.
 */
typedef enum
{
  DLS_ERROR_NOT_FOUND,
  DLS_ERROR_NOT_A_MODEL,
  DLS_ERROR_CORRUPT,
  DLS_ERROR_UNSUPPORTED,
  DLS_ERROR_INVALID_GRAPH,
  DLS_ERROR_NO_DEVICE,
  DLS_ERROR_KERNEL_BUILD,
  DLS_ERROR_DEVICE,
  DLS_ERROR_INVALID_ARGUMENT,
} DlsError;

GQuark dls_error_quark (void);

/* Sets @error (if not NULL) in DLS_ERROR with @code and a printf-style
 * message; returns FALSE, so that a check can end in
 * `return dls_error_set (...)`. */
gboolean dls_error_set (GError ** error, DlsError code, const char *fmt,
    ...) G_GNUC_PRINTF (3, 4);

G_END_DECLS

#endif /* DLS_COMMON_H */
