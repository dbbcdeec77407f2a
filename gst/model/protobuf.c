/* deeplabseg: a bounds-checked protobuf wire-format reader (see
 * protobuf.h). The encoding: each field is a varint tag (number << 3 |
 * wire type) then its value -- a varint (7 bits a byte, little-endian, the
 * high bit set on every byte but the last, at most 10 bytes), 8 or 4
 * little-endian bytes, or a varint length and that many bytes.
 */
#include "protobuf.h"

#include <string.h>

/* Reads a varint at *@pos of @data[0..@size); advances *@pos. */
static gboolean
read_varint (const guint8 * data, gsize size, gsize * pos, guint64 * v)
{
  guint64 r = 0;

  for (guint shift = 0; shift < 70; shift += 7) {
    guint8 b;

    if (*pos >= size)
      return FALSE;
    b = data[(*pos)++];
    /* The tenth byte may only carry the top bit of 64. */
    if (shift == 63 && b > 1)
      return FALSE;
    r |= (guint64) (b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return TRUE;
    }
  }
  return FALSE;
}

guint64
dls_pb_read_le (const guint8 * p, guint n)
{
  guint64 v = 0;

  for (guint i = 0; i < n; i++)
    v |= (guint64) p[i] << (8 * i);
  return v;
}

void
dls_pb_msg_init (DlsPbMsg * m, const guint8 * data, gsize size,
    const char *what)
{
  m->data = data;
  m->size = data ? size : 0;
  m->pos = 0;
  m->what = what;
}

int
dls_pb_next (DlsPbMsg * m, DlsPbField * f, GError ** error)
{
  gsize start = m->pos;
  guint64 tag, len;

  memset (f, 0, sizeof (*f));
  if (m->pos >= m->size)
    return 0;
  if (!read_varint (m->data, m->size, &m->pos, &tag)) {
    dls_error_set (error, DLS_ERROR_CORRUPT, "%s: truncated field tag at "
        "byte %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT, m->what, start,
        m->size);
    return -1;
  }
  if ((tag >> 3) == 0 || (tag >> 3) > G_MAXINT32) {
    dls_error_set (error, DLS_ERROR_CORRUPT, "%s: field number %"
        G_GUINT64_FORMAT " at byte %" G_GSIZE_FORMAT " is invalid", m->what,
        tag >> 3, start);
    return -1;
  }
  f->number = (guint32) (tag >> 3);
  f->wire = (DlsPbWireType) (tag & 7);

  switch (tag & 7) {
    case DLS_PB_VARINT:
      if (!read_varint (m->data, m->size, &m->pos, &f->u))
        goto truncated;
      return 1;
    case DLS_PB_FIXED64:
      if (m->size - m->pos < 8)
        goto truncated;
      f->u = dls_pb_read_le (m->data + m->pos, 8);
      m->pos += 8;
      return 1;
    case DLS_PB_FIXED32:
      if (m->size - m->pos < 4)
        goto truncated;
      f->u = dls_pb_read_le (m->data + m->pos, 4);
      m->pos += 4;
      return 1;
    case DLS_PB_BYTES:
      if (!read_varint (m->data, m->size, &m->pos, &len)
          || len > (guint64) (m->size - m->pos))
        goto truncated;
      f->data = m->data + m->pos;
      f->len = (gsize) len;
      m->pos += (gsize) len;
      return 1;
    default:
      dls_error_set (error, DLS_ERROR_CORRUPT, "%s: field %u has wire type "
          "%u (groups and unknown types are not protobuf 3)", m->what,
          f->number, (guint) (tag & 7));
      return -1;
  }

truncated:
  dls_error_set (error, DLS_ERROR_CORRUPT, "%s: field %u (wire type %u) at "
      "byte %" G_GSIZE_FORMAT " runs past the end of the message (%"
      G_GSIZE_FORMAT " bytes)", m->what, f->number, (guint) f->wire, start,
      m->size);
  return -1;
}

void
dls_pb_sub (const DlsPbField * f, DlsPbMsg * sub, const char *what)
{
  dls_pb_msg_init (sub, f->data, f->len, what);
}

gboolean
dls_pb_expect (const DlsPbMsg * m, const DlsPbField * f, DlsPbWireType wire,
    const char *field, GError ** error)
{
  if (f->wire == wire)
    return TRUE;
  return dls_error_set (error, DLS_ERROR_CORRUPT,
      "%s.%s (field %u) has wire type %u, expected %u",
      m->what, field, f->number, (guint) f->wire, (guint) wire);
}

gboolean
dls_pb_append_varints (const DlsPbMsg * m, const DlsPbField * f,
    const char *field, GArray * out, guint max, GError ** error)
{
  gint64 v;

  if (f->wire == DLS_PB_VARINT) {
    if (out->len >= max)
      goto too_many;
    v = (gint64) f->u;
    g_array_append_val (out, v);
    return TRUE;
  }
  if (!dls_pb_expect (m, f, DLS_PB_BYTES, field, error))
    return FALSE;
  for (gsize pos = 0; pos < f->len;) {
    guint64 u;

    if (!read_varint (f->data, f->len, &pos, &u))
      return dls_error_set (error, DLS_ERROR_CORRUPT,
          "%s.%s: truncated packed varint", m->what, field);
    if (out->len >= max)
      goto too_many;
    v = (gint64) u;
    g_array_append_val (out, v);
  }
  return TRUE;

too_many:
  return dls_error_set (error, DLS_ERROR_CORRUPT,
      "%s.%s: more than %u values", m->what, field, max);
}

gboolean
dls_pb_append_floats (const DlsPbMsg * m, const DlsPbField * f,
    const char *field, GArray * out, guint max, GError ** error)
{
  union
  {
    guint32 u;
    gfloat f;
  } v;

  if (f->wire == DLS_PB_FIXED32) {
    if (out->len >= max)
      goto too_many;
    v.u = (guint32) f->u;
    g_array_append_val (out, v.f);
    return TRUE;
  }
  if (!dls_pb_expect (m, f, DLS_PB_BYTES, field, error))
    return FALSE;
  if (f->len % 4 != 0)
    return dls_error_set (error, DLS_ERROR_CORRUPT,
        "%s.%s: packed floats of %" G_GSIZE_FORMAT
        " bytes, not a multiple of 4", m->what, field, f->len);
  if (f->len / 4 > max - out->len)
    goto too_many;
  for (gsize pos = 0; pos < f->len; pos += 4) {
    v.u = (guint32) dls_pb_read_le (f->data + pos, 4);
    g_array_append_val (out, v.f);
  }
  return TRUE;

too_many:
  return dls_error_set (error, DLS_ERROR_CORRUPT,
      "%s.%s: more than %u values", m->what, field, max);
}

char *
dls_pb_string (const DlsPbField * f)
{
  char *raw = g_strndup ((const char *) f->data, f->len);
  char *s = g_utf8_make_valid (raw, -1);

  g_free (raw);
  return s;
}

gboolean
dls_pb_read_string (const DlsPbMsg * m, const DlsPbField * f,
    const char *field, char **out, GError ** error)
{
  if (!dls_pb_expect (m, f, DLS_PB_BYTES, field, error))
    return FALSE;
  g_free (*out);
  *out = dls_pb_string (f);
  return TRUE;
}
