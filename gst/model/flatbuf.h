/* deeplabseg: a bounds-checked FlatBuffers reader, written for the model
 * readers (gst/model/). It owns the binary rules of the format -- root
 * offset, tables and their vtables, vectors, strings -- and nothing of any
 * schema: the TFLite reader names the fields.
 *
 * Every offset, vtable entry, vector length and string read is checked
 * against the buffer with 64-bit arithmetic before anything is
 * dereferenced; a violation is a DLS_ERROR_CORRUPT saying what pointed
 * where. Values are read byte by byte (little-endian), so neither alignment
 * nor host byte order matters. Traversal is driven by the caller's schema
 * walk: this file never recurses, and since every uoffset points forward a
 * hostile file cannot make a walk loop.
 */
#ifndef DLS_FLATBUF_H
#define DLS_FLATBUF_H

#include "../common.h"

G_BEGIN_DECLS

/* A table whose header and vtable have been validated. @what names its
 * schema type in messages ("Operator"); it must be a static string. */
typedef struct
{
  const guint8 *data;
  gsize size;
  guint64 pos;                  /* the table (its soffset to the vtable) */
  guint64 vtable;
  guint n_fields;               /* entries in the vtable */
  guint inline_size;            /* bytes of the table's inline part */
  const char *what;
} DlsFbTable;

/* A vector whose length and elements lie inside the buffer. Vectors of
 * tables hold one 4-byte uoffset per element. */
typedef struct
{
  const guint8 *data;
  gsize size;
  guint64 pos;                  /* first element */
  guint32 len;
  guint elem_size;
  const char *what;
} DlsFbVector;

gboolean dls_fb_has_identifier (const guint8 * data, gsize size,
    const char *ident);

gboolean dls_fb_root (const guint8 * data, gsize size, const char *what,
    DlsFbTable * root, GError ** error);

void dls_fb_table_empty (const guint8 * data, gsize size, const char *what,
    DlsFbTable * table);

gboolean dls_fb_field_present (const DlsFbTable * t, guint id);

gboolean dls_fb_read_u8 (const DlsFbTable * t, guint id, const char *field,
    guint8 def, guint8 * out, GError ** error);
gboolean dls_fb_read_i8 (const DlsFbTable * t, guint id, const char *field,
    gint8 def, gint8 * out, GError ** error);
gboolean dls_fb_read_bool (const DlsFbTable * t, guint id, const char *field,
    gboolean def, gboolean * out, GError ** error);
gboolean dls_fb_read_i32 (const DlsFbTable * t, guint id, const char *field,
    gint32 def, gint32 * out, GError ** error);
gboolean dls_fb_read_u32 (const DlsFbTable * t, guint id, const char *field,
    guint32 def, guint32 * out, GError ** error);
gboolean dls_fb_read_u64 (const DlsFbTable * t, guint id, const char *field,
    guint64 def, guint64 * out, GError ** error);

gboolean dls_fb_read_table (const DlsFbTable * t, guint id,
    const char *field, const char *what, DlsFbTable * out,
    gboolean * present, GError ** error);
gboolean dls_fb_read_vector (const DlsFbTable * t, guint id,
    const char *field, guint elem_size, DlsFbVector * out, GError ** error);
gboolean dls_fb_read_string (const DlsFbTable * t, guint id,
    const char *field, char **out, GError ** error);

gboolean dls_fb_vector_table (const DlsFbVector * v, guint32 i,
    const char *what, DlsFbTable * out, GError ** error);

/* Element accessors of an already validated vector; @i must be < len. */
gint32 dls_fb_vector_i32 (const DlsFbVector * v, guint32 i);

static inline const guint8 *
dls_fb_vector_bytes (const DlsFbVector * v)
{
  return v->data + v->pos;
}

G_END_DECLS

#endif /* DLS_FLATBUF_H */
