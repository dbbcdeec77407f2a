# deeplabseg: ORC kernel of the class-map overlay (compiled by orcc at build
# time into blend-orc.c / blend-orc.h; see overlay.c for the callers).
#
# dls_orc_blend_u8: for n bytes,
#
#   d = d + (((s - d) * a) >> 8)
#
# with d the frame byte, s the palette colour byte and a the per-byte weight
# in 0..256 (256 = opaque, 0 = leave d untouched). ">>" is an arithmetic
# shift, i.e. the result is floor (d + (s - d) * a / 256) computed exactly:
# it always lies between d and s, a = 0 gives d bit for bit and a = 256
# gives s bit for bit.
#
# Everything stays in 16-bit signed lanes (8 per SSE register). The plain
# product (s - d) * a needs 17 bits (|s - d| <= 255, a <= 256), so it is
# formed with mulhsw, the high half of the exact 32-bit product, on
# operands pre-scaled to stay within int16:
#
#   mulhsw ((s - d) << 7, a << 1) = ((s - d) * 128 * a * 2) >> 16
#                                 = ((s - d) * a) >> 8
#
# (|(s - d) << 7| <= 32640, a << 1 <= 512). No rounding term is added: the
# documented formula truncates toward minus infinity, so the result is at
# most one step below the real-valued blend.

.function dls_orc_blend_u8
.dest 1 d guint8
.source 1 s guint8
.source 2 a gint16
.temp 2 dw
.temp 2 sw
.temp 2 t
.temp 2 a2

convubw dw, d
convubw sw, s
subw t, sw, dw
shlw t, t, 7
shlw a2, a, 1
mulhsw t, t, a2
addw t, dw, t
convwb d, t
