/* deeplabseg: the bounds-checked FlatBuffers reader (see flatbuf.h).
 *
 * The format, as far as a reader sees it: the buffer starts with a uoffset
 * (u32) to the root table. A table starts with an soffset (i32) such that
 * vtable = table - soffset; the vtable is u16 vtable_size, u16
 * table_inline_size, then one u16 per field giving the field's offset inside
 * the table (0 = absent, take the schema default). Offset-typed fields hold
 * a uoffset relative to the field itself, pointing to a table, a vector (u32
 * length then the elements) or a string (a vector of bytes). Vectors of
 * tables hold a uoffset per element, relative to that element.
 */
#include "flatbuf.h"

#include <string.h>

static inline guint16
rd16 (const guint8 * p)
{
  return (guint16) (p[0] | (p[1] << 8));
}

static inline guint32
rd32 (const guint8 * p)
{
  return (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16)
      | ((guint32) p[3] << 24);
}

static inline guint64
rd64 (const guint8 * p)
{
  return (guint64) rd32 (p) | ((guint64) rd32 (p + 4) << 32);
}

/* TRUE if [pos, pos + len) lies inside a buffer of @size bytes. */
static inline gboolean
in_bounds (gsize size, guint64 pos, guint64 len)
{
  return pos <= size && len <= (guint64) size - pos;
}

/* Validates the table at @pos: its header, its vtable and its inline part
 * must all lie inside the buffer. */
static gboolean
table_at (const guint8 * data, gsize size, guint64 pos, const char *what,
    DlsFbTable * out, GError ** error)
{
  gint64 vt;
  guint vsize, tsize;

  if (!in_bounds (size, pos, 4))
    return dls_error_set (error, DLS_ERROR_CORRUPT,
        "%s table at byte %" G_GUINT64_FORMAT
        " lies outside the %" G_GSIZE_FORMAT "-byte file", what, pos, size);
  vt = (gint64) pos - (gint32) rd32 (data + pos);
  if (vt < 0 || !in_bounds (size, (guint64) vt, 4))
    return dls_error_set (error, DLS_ERROR_CORRUPT,
        "%s table at byte %" G_GUINT64_FORMAT
        ": its vtable at byte %" G_GINT64_FORMAT " lies outside the %"
        G_GSIZE_FORMAT "-byte file", what, pos, vt, size);
  vsize = rd16 (data + vt);
  tsize = rd16 (data + vt + 2);
  if (vsize < 4 || (vsize & 1) || !in_bounds (size, (guint64) vt, vsize))
    return dls_error_set (error, DLS_ERROR_CORRUPT,
        "%s table at byte %" G_GUINT64_FORMAT
        ": vtable at byte %" G_GINT64_FORMAT " has a bad size %u (file is %"
        G_GSIZE_FORMAT " bytes)", what, pos, vt, vsize, size);
  if (tsize < 4 || !in_bounds (size, pos, tsize))
    return dls_error_set (error, DLS_ERROR_CORRUPT,
        "%s table at byte %" G_GUINT64_FORMAT
        ": its %u-byte inline part runs past the end of the %" G_GSIZE_FORMAT
        "-byte file", what, pos, tsize, size);

  out->data = data;
  out->size = size;
  out->pos = pos;
  out->vtable = (guint64) vt;
  out->n_fields = (vsize - 4) / 2;
  out->inline_size = tsize;
  out->what = what;
  return TRUE;
}

static gboolean
vector_at (const guint8 * data, gsize size, guint64 pos, guint elem_size,
    const char *field, DlsFbVector * out, GError ** error)
{
  guint32 len;

  if (!in_bounds (size, pos, 4))
    return dls_error_set (error, DLS_ERROR_CORRUPT,
        "%s: vector at byte %" G_GUINT64_FORMAT
        " lies outside the %" G_GSIZE_FORMAT "-byte file", field, pos, size);
  len = rd32 (data + pos);
  if (!in_bounds (size, pos + 4, (guint64) len * elem_size))
    return dls_error_set (error, DLS_ERROR_CORRUPT,
        "%s: vector at byte %" G_GUINT64_FORMAT
        " of %u elements of %u bytes runs past the end of the %"
        G_GSIZE_FORMAT "-byte file", field, pos, len, elem_size, size);

  out->data = data;
  out->size = size;
  out->pos = pos + 4;
  out->len = len;
  out->elem_size = elem_size;
  out->what = field;
  return TRUE;
}

/**
 * dls_fb_has_identifier:
 * @ident: the 4-character file identifier
 *
 * Returns: whether @data is long enough to hold a root offset and carries
 * @ident at bytes 4..8.
 */
gboolean
dls_fb_has_identifier (const guint8 * data, gsize size, const char *ident)
{
  return data && size >= 8 && memcmp (data + 4, ident, 4) == 0;
}

/**
 * dls_fb_root:
 * @what: the root table's schema name, for messages
 *
 * Validates the root offset and the root table.
 */
gboolean
dls_fb_root (const guint8 * data, gsize size, const char *what,
    DlsFbTable * root, GError ** error)
{
  guint32 off;

  if (!data || size < 8)
    return dls_error_set (error, DLS_ERROR_CORRUPT,
        "%" G_GSIZE_FORMAT " bytes cannot hold a "
        "FlatBuffer", size);
  off = rd32 (data);
  if (off == 0)
    return dls_error_set (error, DLS_ERROR_CORRUPT, "root offset is 0");
  return table_at (data, size, off, what, root, error);
}

/**
 * dls_fb_table_empty:
 *
 * Fills @table as a table with no fields, so that every read returns the
 * schema default (for an absent options table).
 */
void
dls_fb_table_empty (const guint8 * data, gsize size, const char *what,
    DlsFbTable * table)
{
  memset (table, 0, sizeof (*table));
  table->data = data;
  table->size = size;
  table->what = what;
}

/* Position of field @id of @fsize bytes, or 0 if the field is absent.
 * table_at() checked the vtable lies in the buffer, so only the field's
 * own placement is left to check. */
static gboolean
field_pos (const DlsFbTable * t, guint id, const char *field, guint fsize,
    guint64 * pos, GError ** error)
{
  guint fo;

  *pos = 0;
  if (id >= t->n_fields)
    return TRUE;
  fo = rd16 (t->data + t->vtable + 4 + 2 * (guint64) id);
  if (fo == 0)
    return TRUE;
  if (fo < 4 || fo + fsize > t->inline_size)
    return dls_error_set (error, DLS_ERROR_CORRUPT,
        "%s: field at offset %u (%u bytes) lies outside "
        "its %u-byte %s table at byte %" G_GUINT64_FORMAT, field, fo, fsize,
        t->inline_size, t->what, t->pos);
  *pos = t->pos + fo;
  return TRUE;
}

/**
 * dls_fb_field_present:
 *
 * Returns: whether the vtable of @t has a non-zero entry for field @id.
 */
gboolean
dls_fb_field_present (const DlsFbTable * t, guint id)
{
  if (id >= t->n_fields)
    return FALSE;
  return rd16 (t->data + t->vtable + 4 + 2 * (guint64) id) != 0;
}

/**
 * dls_fb_read_u8:
 * @id: the field's index in the schema (0-based, unions count twice)
 * @field: "Table.field", for messages
 * @def: the schema default, returned when the field is absent
 *
 * Reads a scalar field. dls_fb_read_i8/bool/i32/u32/u64 are the same for
 * their types.
 */
gboolean
dls_fb_read_u8 (const DlsFbTable * t, guint id, const char *field,
    guint8 def, guint8 * out, GError ** error)
{
  guint64 pos;

  if (!field_pos (t, id, field, 1, &pos, error))
    return FALSE;
  *out = pos ? t->data[pos] : def;
  return TRUE;
}

gboolean
dls_fb_read_i8 (const DlsFbTable * t, guint id, const char *field,
    gint8 def, gint8 * out, GError ** error)
{
  guint8 v;

  if (!dls_fb_read_u8 (t, id, field, (guint8) def, &v, error))
    return FALSE;
  *out = (gint8) v;
  return TRUE;
}

gboolean
dls_fb_read_bool (const DlsFbTable * t, guint id, const char *field,
    gboolean def, gboolean * out, GError ** error)
{
  guint8 v;

  if (!dls_fb_read_u8 (t, id, field, def ? 1 : 0, &v, error))
    return FALSE;
  *out = v != 0;
  return TRUE;
}

gboolean
dls_fb_read_u32 (const DlsFbTable * t, guint id, const char *field,
    guint32 def, guint32 * out, GError ** error)
{
  guint64 pos;

  if (!field_pos (t, id, field, 4, &pos, error))
    return FALSE;
  *out = pos ? rd32 (t->data + pos) : def;
  return TRUE;
}

gboolean
dls_fb_read_i32 (const DlsFbTable * t, guint id, const char *field,
    gint32 def, gint32 * out, GError ** error)
{
  guint32 v;

  if (!dls_fb_read_u32 (t, id, field, (guint32) def, &v, error))
    return FALSE;
  *out = (gint32) v;
  return TRUE;
}

gboolean
dls_fb_read_u64 (const DlsFbTable * t, guint id, const char *field,
    guint64 def, guint64 * out, GError ** error)
{
  guint64 pos;

  if (!field_pos (t, id, field, 8, &pos, error))
    return FALSE;
  *out = pos ? rd64 (t->data + pos) : def;
  return TRUE;
}

/* Follows the uoffset stored in field @id; *target = 0 if absent. */
static gboolean
read_offset (const DlsFbTable * t, guint id, const char *field,
    guint64 * target, GError ** error)
{
  guint64 pos;
  guint32 off;

  *target = 0;
  if (!field_pos (t, id, field, 4, &pos, error))
    return FALSE;
  if (!pos)
    return TRUE;
  off = rd32 (t->data + pos);
  if (off == 0)
    return dls_error_set (error, DLS_ERROR_CORRUPT,
        "%s: offset at byte %" G_GUINT64_FORMAT
        " points to itself", field, pos);
  *target = pos + off;
  return TRUE;
}

/**
 * dls_fb_read_table:
 * @what: the sub-table's schema name
 * @present: (out) (optional): whether the field was there; when it is not,
 *   @out is an empty table (every read gives the default)
 *
 * Follows a table-typed field and validates the table it points to.
 */
gboolean
dls_fb_read_table (const DlsFbTable * t, guint id, const char *field,
    const char *what, DlsFbTable * out, gboolean * present, GError ** error)
{
  guint64 target;

  if (present)
    *present = FALSE;
  if (!read_offset (t, id, field, &target, error))
    return FALSE;
  if (!target) {
    dls_fb_table_empty (t->data, t->size, what, out);
    return TRUE;
  }
  if (!table_at (t->data, t->size, target, what, out, error)) {
    g_prefix_error (error, "%s: ", field);
    return FALSE;
  }
  if (present)
    *present = TRUE;
  return TRUE;
}

/**
 * dls_fb_read_vector:
 * @elem_size: bytes per element (4 for tables, strings and 32-bit scalars)
 *
 * Follows a vector-typed field; an absent vector reads as empty.
 */
gboolean
dls_fb_read_vector (const DlsFbTable * t, guint id, const char *field,
    guint elem_size, DlsFbVector * out, GError ** error)
{
  guint64 target;

  memset (out, 0, sizeof (*out));
  out->data = t->data;
  out->size = t->size;
  out->elem_size = elem_size;
  out->what = field;
  if (!read_offset (t, id, field, &target, error))
    return FALSE;
  if (!target)
    return TRUE;
  return vector_at (t->data, t->size, target, elem_size, field, out, error);
}

/**
 * dls_fb_read_string:
 * @out: (out) (transfer full): a NUL-terminated copy (stops at an embedded
 *   NUL), or NULL if the field is absent
 */
gboolean
dls_fb_read_string (const DlsFbTable * t, guint id, const char *field,
    char **out, GError ** error)
{
  DlsFbVector v;
  guint64 target;

  *out = NULL;
  if (!read_offset (t, id, field, &target, error))
    return FALSE;
  if (!target)
    return TRUE;
  if (!vector_at (t->data, t->size, target, 1, field, &v, error))
    return FALSE;
  *out = g_strndup ((const char *) dls_fb_vector_bytes (&v), v.len);
  return TRUE;
}

/**
 * dls_fb_vector_table:
 *
 * Validates and returns element @i of a vector of tables.
 */
gboolean
dls_fb_vector_table (const DlsFbVector * v, guint32 i, const char *what,
    DlsFbTable * out, GError ** error)
{
  guint64 pos;
  guint32 off;

  if (i >= v->len || v->elem_size != 4)
    return dls_error_set (error, DLS_ERROR_CORRUPT,
        "%s: element %u of %u requested", v->what, i,
        v->len);
  pos = v->pos + 4 * (guint64) i;
  off = rd32 (v->data + pos);
  if (off == 0)
    return dls_error_set (error, DLS_ERROR_CORRUPT,
        "%s[%u]: offset points to itself", v->what, i);
  if (!table_at (v->data, v->size, pos + off, what, out, error)) {
    g_prefix_error (error, "%s[%u]: ", v->what, i);
    return FALSE;
  }
  return TRUE;
}

/**
 * dls_fb_vector_i32:
 *
 * Returns: element @i of a vector of 32-bit integers (0 if @i is out of
 * range, which is a caller bug).
 */
gint32
dls_fb_vector_i32 (const DlsFbVector * v, guint32 i)
{
  g_return_val_if_fail (i < v->len && v->elem_size == 4, 0);
  return (gint32) rd32 (v->data + v->pos + 4 * (guint64) i);
}
