/* deeplabseg: the points' simplices of the permutohedral lattice build,
 * LANES points at a time (one lane a point), included by crf.c once per
 * vector width (the comment above its includes says why and how they are
 * chosen). Before each include crf.c defines:
 *   LANES            points per vector: 4 (SSE on the baseline x86-64) or
 *                    8 (an AVX2 register)
 *   SIMPLICES_TARGET attributes of the instantiation, such as
 *                    __attribute__ ((target ("avx2"))); may be empty
 * and the vector macros (SEL_I, SEL_F, TO_F, TO_I, FLOOR_I, CEIL_I), which
 * use the VecF and VecI of the function they are expanded in. Defines
 * points_simplices_LANES (l, features, k0, k1) and undefines LANES and
 * SIMPLICES_TARGET.
 */
#if !defined (LANES) || !defined (SIMPLICES_TARGET)
#error "crf_simplices.h is included by crf.c with LANES and SIMPLICES_TARGET"
#endif

/* Per width: SHUF (prev, cur, SIMPLICES_PREV) gives each lane its
 * previous point's value (lane 0: the last lane of prev); TRANSPOSE (v)
 * transposes the LANES x LANES ints of vectors v[0 .. LANES - 1] in place
 * (interleaves of single lanes, then of pairs, then, 8 lanes, of
 * halves). */
#define SHUF __builtin_shufflevector
#if LANES == 4
#define SIMPLICES_PREV 3, 4, 5, 6
#define TRANSPOSE(v) do { \
    const __typeof__ (v[0]) a0 = SHUF (v[0], v[1], 0, 4, 1, 5), \
        a1 = SHUF (v[0], v[1], 2, 6, 3, 7), \
        a2 = SHUF (v[2], v[3], 0, 4, 1, 5), \
        a3 = SHUF (v[2], v[3], 2, 6, 3, 7); \
    v[0] = SHUF (a0, a2, 0, 1, 4, 5); \
    v[1] = SHUF (a0, a2, 2, 3, 6, 7); \
    v[2] = SHUF (a1, a3, 0, 1, 4, 5); \
    v[3] = SHUF (a1, a3, 2, 3, 6, 7); \
  } while (0)
#elif LANES == 8
#define SIMPLICES_PREV 7, 8, 9, 10, 11, 12, 13, 14
#define LO32 0, 8, 1, 9, 4, 12, 5, 13
#define HI32 2, 10, 3, 11, 6, 14, 7, 15
#define LO64 0, 1, 8, 9, 4, 5, 12, 13
#define HI64 2, 3, 10, 11, 6, 7, 14, 15
#define LO128 0, 1, 2, 3, 8, 9, 10, 11
#define HI128 4, 5, 6, 7, 12, 13, 14, 15
#define TRANSPOSE(v) do { \
    __typeof__ (v[0]) a[8], b[8]; \
    for (int p_ = 0; p_ < 8; p_ += 2) { \
      a[p_] = SHUF (v[p_], v[p_ + 1], LO32); \
      a[p_ + 1] = SHUF (v[p_], v[p_ + 1], HI32); \
    } \
    for (int p_ = 0; p_ < 8; p_ += 4) \
      for (int q_ = 0; q_ < 2; q_++) { \
        b[p_ + 2 * q_] = SHUF (a[p_ + q_], a[p_ + q_ + 2], LO64); \
        b[p_ + 2 * q_ + 1] = SHUF (a[p_ + q_], a[p_ + q_ + 2], HI64); \
      } \
    for (int q_ = 0; q_ < 4; q_++) { \
      v[q_] = SHUF (b[q_], b[q_ + 4], LO128); \
      v[q_ + 4] = SHUF (b[q_], b[q_ + 4], HI128); \
    } \
  } while (0)
#else
#error "LANES: 4 or 8"
#endif
#define SIMPLICES_CAT2(a, b) a ## b
#define SIMPLICES_CAT(a, b) SIMPLICES_CAT2 (a, b)
#define SIMPLICES_BODY SIMPLICES_CAT (points_simplices_body_, LANES)

/* The simplex enclosing each point of [k0, k1) and its barycentric
 * weights (Adams et al. 2010, p. 5-6 and 10; densecrf's
 * PermutohedralLattice::init, same operations in the same order); the
 * range of rem0 per coordinate into q_lo, q_hi and the count of run
 * heads into heads, of half @k0 > 0. */
static inline __attribute__ ((always_inline)) void
SIMPLICES_BODY (DlsLattice * l, const float *features, int k0, int k1,
    const int d)
{
  typedef float VecF __attribute__ ((vector_size (LANES * 4)));
  typedef int VecI __attribute__ ((vector_size (LANES * 4)));
  const int d1 = d + 1, half = k0 > 0;
  float scale_factor[DLS_LATTICE_MAX_DIM];
  /* Expected standard deviation of the filter (ibid., p. 6). */
  const float inv_std_dev = sqrtf (2.0f / 3.0f) * (float) d1;
  const float down_factor = 1.0f / (float) d1;
  const float up_factor = (float) d1;
  VecI lo[DLS_LATTICE_MAX_DIM], hi[DLS_LATTICE_MAX_DIM];
  /* The previous vector's simplices (rank -1: the half's first point is
   * a head) and the heads per lane. */
  VecI prev_rem0[DLS_LATTICE_MAX_DIM + 1], prev_rank[DLS_LATTICE_MAX_DIM + 1];
  VecI heads = { }, lane;
  int total = 0;

  /* The diagonal part of E (p. 5). */
  for (int i = 0; i < d; i++) {
    scale_factor[i] = (float) (1.0 / sqrt ((double) ((i + 2) * (i + 1))))
        * inv_std_dev;
    lo[i] = (VecI) { } + G_MAXINT;
    hi[i] = (VecI) { } + G_MININT;
  }
  for (int i = 0; i <= d; i++) {
    prev_rem0[i] = (VecI) { };
    prev_rank[i] = (VecI) { } - 1;
  }
  for (int t = 0; t < LANES; t++)
    lane[t] = t;

  for (int k = k0; k < k1; k += LANES) {
    /* lanes past k1 repeat the last point */
    const int nl = MIN (LANES, k1 - k);
    /* (zeroed: GCC cannot tell that a runtime d fills what it reads) */
    VecF f[DLS_LATTICE_MAX_DIM], elevated[DLS_LATTICE_MAX_DIM + 1] = { };
    VecF rem0[DLS_LATTICE_MAX_DIM + 1] = { }, v[DLS_LATTICE_MAX_DIM + 1];
    VecF bary[DLS_LATTICE_MAX_DIM + 1];
    VecF by_rank[DLS_LATTICE_MAX_DIM + 1] = { };
    VecI rank[DLS_LATTICE_MAX_DIM + 1], index[DLS_LATTICE_MAX_DIM + 1];
    VecI rem0_i[DLS_LATTICE_MAX_DIM + 1];
    VecF sm = { };
    VecI sum = { };

    /* d + 1 of each, not all (a memset of the rest cost 7 % of the time) */
    for (int i = 0; i <= d; i++)
      rank[i] = index[i] = (VecI) { };

    for (int c = 0; c < d; c++) {
      float lane[LANES];

      for (int t = 0; t < LANES; t++)
        lane[t] = features[(gsize) (k + MIN (t, nl - 1)) * d + c];
      memcpy (&f[c], lane, sizeof (lane));
    }

    /* Elevate onto H_d: y = E f. */
    for (int j = d; j > 0; j--) {
      VecF cf = f[j - 1] * scale_factor[j - 1];
      elevated[j] = sm - (float) j *cf;
      sm += cf;
    }
    elevated[0] = sm;

    /* The closest remainder-0 point, by rounding. */
    for (int i = 0; i <= d; i++) {
      const VecF x = down_factor * elevated[i];
      VecI t;
      const VecF up = TO_F (CEIL_I (x, t)) * up_factor;
      const VecF down = TO_F (FLOOR_I (x, t)) * up_factor;
      const VecI rd = SEL_I (up - elevated[i] < elevated[i] - down,
          TO_I (up), TO_I (down));

      rem0[i] = TO_F (rd);
      sum = TO_I (TO_F (sum) + TO_F (rd) * down_factor);
    }

    /* The simplex: rank of each coordinate's remainder (p. 5). */
    for (int i = 0; i < d; i++) {
      const VecF di = elevated[i] - rem0[i];
      for (int j = i + 1; j <= d; j++) {
        const VecI lt = di < elevated[j] - rem0[j];
        rank[i] -= lt;
        rank[j] += lt + 1;
      }
    }
    /* Back onto the plane if the rounded point is not on it. */
    for (int i = 0; i <= d; i++) {
      VecI neg, big;

      rank[i] += sum;
      neg = rank[i] < 0;
      big = rank[i] > d;
      rank[i] += (neg & d1) - (big & d1);
      rem0[i] = SEL_F (neg, rem0[i] + (float) d1, SEL_F (big,
              rem0[i] - (float) d1, rem0[i]));
    }

    /* Barycentric coordinates (p. 10): the scalar code adds v_i to
     * b[d - rank_i] and subtracts it from b[d - rank_i + 1] for i in
     * order, from zeros, then b[0] += 1 + b[d + 1]; so b[x] sums the v
     * of ranks d - x and d - x + 1 in the order of their coordinates. */
    for (int i = 0; i <= d; i++) {
      v[i] = (elevated[i] - rem0[i]) * down_factor;
      for (int r = 0; r <= d; r++) {
        const VecI is = rank[i] == r;
        by_rank[r] = (VecF) ((VecI) by_rank[r] | (is & (VecI) v[i]));
        index[r] |= is & i;
      }
    }
    bary[0] = (0.0f + by_rank[d]) + (1.0f + (0.0f - by_rank[0]));
    for (int x = 1; x <= d; x++) {
      const VecF add = by_rank[d - x], take = by_rank[d - x + 1];
      bary[x] = SEL_F (index[d - x] < index[d - x + 1], (0.0f + add) - take,
          (0.0f - take) + add);
    }

    for (int i = 0; i <= d; i++)
      rem0_i[i] = TO_I (rem0[i]);
    /* A head: a point whose simplex is not the previous point's (compared
     * here, not in memory: loads of the stores just made were most of the
     * time). Lanes from nl on repeat the last point: not counted. */
    {
      VecI same = (VecI) { } - 1;

      for (int i = 0; i <= d; i++) {
        same &= SHUF (prev_rem0[i], rem0_i[i], SIMPLICES_PREV) == rem0_i[i];
        same &= SHUF (prev_rank[i], rank[i], SIMPLICES_PREV) == rank[i];
        prev_rem0[i] = rem0_i[i];
        prev_rank[i] = rank[i];
      }
      heads -= ~same & (lane < nl);
    }
    for (int i = 0; i < d; i++) {
      lo[i] = SEL_I (rem0_i[i] < lo[i], rem0_i[i], lo[i]);
      hi[i] = SEL_I (rem0_i[i] > hi[i], rem0_i[i], hi[i]);
    }
    /* Out by transposes (a store a point, not one a coordinate): each
     * simplex as 8 ints (rem0, then the ranks' bytes; zeros past d), the
     * weights in groups of LANES. */
    {
      VecI sx[8] = { }, wt[2 * 8];
      const int groups = (d1 + LANES - 1) / LANES;

      G_STATIC_ASSERT (sizeof (Simplex) == sizeof (sx[0][0]) * 8
          && G_STRUCT_OFFSET (Simplex, rank) == sizeof (sx[0][0]) * 6
          && DLS_LATTICE_MAX_DIM + 1 <= 8);
      for (int i = 0; i <= d; i++) {
        sx[i] = rem0_i[i];
        sx[6 + i / 4] |= rank[i] << (8 * (i % 4));
        wt[i] = (VecI) bary[i];
      }
      for (int i = d1; i < groups * LANES; i++)
        wt[i] = (VecI) { };
      for (int g = 0; g < 8; g += LANES)
        TRANSPOSE ((sx + g));
      for (int g = 0; g < groups; g++)
        TRANSPOSE ((wt + g * LANES));
      for (int t = 0; t < nl; t++) {
        int *s = (int *) &l->simplex[k + t];
        float *w = l->weights + (gsize) (k + t) * d1;

        for (int g = 0; g < 8; g += LANES)
          memcpy (s + g, &sx[g + t], sizeof (sx[0]));
        for (int g = 0; g < groups; g++)
          memcpy (w + g * LANES, &wt[g * LANES + t],
              sizeof (float) * MIN (LANES, d1 - g * LANES));
      }
    }
  }
  for (int i = 0; i < d; i++) {
    l->q_lo[half][i] = lo[i][0];
    l->q_hi[half][i] = hi[i][0];
    for (int t = 1; t < LANES; t++) {
      l->q_lo[half][i] = MIN (l->q_lo[half][i], lo[i][t]);
      l->q_hi[half][i] = MAX (l->q_hi[half][i], hi[i][t]);
    }
  }
  for (int t = 0; t < LANES; t++)
    total += heads[t];
  l->q_points[half] = k1 - k0;
  l->heads[half] = total;
}

/* For the lattice's d (WITH_DIM: a constant for 5 and 2). */
static SIMPLICES_TARGET void
SIMPLICES_CAT (points_simplices_, LANES) (DlsLattice * l,
    const float *features, int k0, int k1)
{
  WITH_DIM (l->d, SIMPLICES_BODY, l, features, k0, k1);
}

#undef SIMPLICES_BODY
#undef SIMPLICES_PREV
#undef TRANSPOSE
#undef SHUF
#undef LO32
#undef HI32
#undef LO64
#undef HI64
#undef LO128
#undef HI128
#undef SIMPLICES_CAT
#undef SIMPLICES_CAT2
#undef LANES
#undef SIMPLICES_TARGET
