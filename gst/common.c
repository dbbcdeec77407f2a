/* deeplabseg: error domain. */
#include "common.h"

G_DEFINE_QUARK (dls-error-quark, dls_error);

gboolean
dls_error_set (GError ** error, DlsError code, const char *fmt, ...)
{
  va_list ap;

  if (error) {
    va_start (ap, fmt);
    *error = g_error_new_valist (DLS_ERROR, code, fmt, ap);
    va_end (ap);
  }
  return FALSE;
}
