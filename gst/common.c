/* deeplabseg: error domain. */
#include "common.h"

G_DEFINE_QUARK (dls-error-quark, dls_error);
