/* deeplabseg: what the user chose to see: palettes from strings or files,
 * and the class selection (the classes that are shown, emitted and kept;
 * every other class counts as background).
 *
 * Palette syntax: colours in class-id order, separated by commas and/or
 * white space, each 0xRRGGBB, #RRGGBB or RRGGBB (hex). Classes past the
 * last colour keep the PASCAL VOC colour. When the string is the path of an
 * existing file, the file holds the same list (newlines allowed; text after
 * "//" on a line is a comment).
 *
 * Class syntax: names (as in the labels) or ids, separated by commas, e.g.
 * "person,dog" or "15,12". Names resolve against the model's labels when
 * the element starts.
 */
#include "overlay.h"

#include <stdlib.h>
#include <string.h>

#include "../common.h"

static gboolean
parse_colour (const gchar * tok, guint8 rgb[3])
{
  gchar *end = NULL;
  guint64 v;

  if (g_str_has_prefix (tok, "0x") || g_str_has_prefix (tok, "0X"))
    tok += 2;
  else if (tok[0] == '#')
    tok++;
  if (strlen (tok) != 6 || !g_ascii_isxdigit (tok[0]))
    return FALSE;
  v = g_ascii_strtoull (tok, &end, 16);
  if (!end || *end)
    return FALSE;
  rgb[0] = (v >> 16) & 0xff;
  rgb[1] = (v >> 8) & 0xff;
  rgb[2] = v & 0xff;
  return TRUE;
}

/* Strips "//" comments from every line of @text, in place. */
static void
strip_comments (gchar * text)
{
  for (gchar * l = text; l && *l;) {
    gchar *nl = strchr (l, '\n');
    gchar *c = strstr (l, "//");

    if (c && (!nl || c < nl))
      memset (c, ' ', (nl ? nl : c + strlen (c)) - c);
    l = nl ? nl + 1 : NULL;
  }
}

/**
 * dls_palette_parse:
 * @p: (out): the palette, filled only on success
 * @spec: a colour list or the path of a file holding one (see the banner);
 *   NULL or "" is the VOC palette
 * @error: DLS_ERROR_INVALID_ARGUMENT (bad colour, more than 256) or
 *   DLS_ERROR_NOT_FOUND (unreadable file)
 */
gboolean
dls_palette_parse (DlsPalette * p, const gchar * spec, GError ** error)
{
  DlsPalette pal;
  gchar *text = NULL, **toks;
  guint n = 0;
  gboolean ok = TRUE;

  dls_palette_init_voc (&pal);
  if (spec && *spec && g_file_test (spec, G_FILE_TEST_IS_REGULAR)) {
    if (!g_file_get_contents (spec, &text, NULL, NULL)) {
      g_set_error (error, DLS_ERROR, DLS_ERROR_NOT_FOUND,
          "cannot read the palette file '%s'", spec);
      return FALSE;
    }
    strip_comments (text);
  } else {
    text = g_strdup (spec ? spec : "");
  }
  g_strdelimit (text, ",\t\r\n", ' ');
  toks = g_strsplit (text, " ", -1);
  for (gchar ** t = toks; *t && ok; t++) {
    if (!**t)
      continue;
    if (n == 256) {
      g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
          "more than 256 colours in the palette");
      ok = FALSE;
    } else if (!parse_colour (*t, pal.rgb[n++])) {
      g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
          "'%s' is not a colour (0xRRGGBB, #RRGGBB or RRGGBB)", *t);
      ok = FALSE;
    }
  }
  g_strfreev (toks);
  g_free (text);
  if (ok)
    *p = pal;
  return ok;
}

/**
 * dls_class_select_resolve:
 * @spec: (nullable): class names or ids separated by commas; NULL or ""
 *   selects every class
 * @labels: (nullable) (array zero-terminated=1): class names, index = id
 * @n_classes: number of classes of the model
 * @keep: (out caller-allocates) (array fixed-size=256): 1 for each selected
 *   class id, 0 otherwise (ids >= @n_classes are never selected, class 0
 *   never matters: it is background already)
 * @error: DLS_ERROR_INVALID_ARGUMENT naming the unknown class
 *
 * Returns: FALSE (and @keep untouched) when a name or id is not a class
 */
gboolean
dls_class_select_resolve (const gchar * spec, const gchar * const *labels,
    int n_classes, guint8 keep[256], GError ** error)
{
  guint8 sel[256] = { 0 };
  gchar **toks;
  gboolean ok = TRUE;

  if (!spec || !*spec) {
    for (int c = 0; c < 256; c++)
      keep[c] = c < n_classes;
    return TRUE;
  }
  toks = g_strsplit (spec, ",", -1);
  for (gchar ** t = toks; *t && ok; t++) {
    gchar *tok = g_strstrip (*t), *end = NULL;
    gint64 id = -1;

    if (!*tok)
      continue;
    if (g_ascii_isdigit (tok[0])) {
      id = g_ascii_strtoll (tok, &end, 10);
      if (*end)
        id = -1;
    } else if (labels) {
      for (int c = 0; c < n_classes && labels[c]; c++)
        if (g_ascii_strcasecmp (labels[c], tok) == 0) {
          id = c;
          break;
        }
    }
    if (id < 0 || id >= n_classes) {
      g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
          "'%s' is not a class of this model (%d classes)", tok, n_classes);
      ok = FALSE;
    } else {
      sel[id] = 1;
    }
  }
  g_strfreev (toks);
  if (ok)
    memcpy (keep, sel, sizeof (sel));
  return ok;
}
