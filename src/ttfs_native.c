/* ttfs_lab._native: compiled first-spike-time kernels (forward and backward of a layer).
 *
 * Plain C99 + pthreads, no torch headers: the Python side (ttfs_lab/native.py) passes
 * tensor.data_ptr() addresses of contiguous CPU tensors, their sizes and the neuron
 * parameters. The batch is split over threads (see run_parallel); the GIL is
 * released while the kernels run. Not compiled with OpenMP (a second OpenMP runtime next to
 * torch's would bring a second thread pool): the threads are torch's own OpenMP team, reached
 * through the runtime torch already loaded (see find_openmp), else pthreads started per call.
 * The kernels themselves live in ttfs_kernels.inc, included once per precision.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE __attribute__((always_inline))
#else
#define ALWAYS_INLINE
#endif

/* The hot loops are vectorised by the compiler; on x86-64 Linux also build AVX-512 and
 * AVX2+FMA copies of them (x86-64-v4, -v3), chosen at load time by CPU (safe on any x86-64,
 * unlike -march=native). Every copy gives the same bits: the build passes -ffp-contract=off
 * (no fused multiply-adds the source does not ask for), vectorisation does not reorder sums,
 * and the polynomials ask for fma() explicitly (an instruction in the v3/v4 copies, libm's
 * correctly rounded fma in the default one). */
#if defined(__x86_64__) && defined(__linux__) && !defined(TTFS_NO_CLONES) && !defined(__clang__) && \
    defined(__GNUC__) && __GNUC__ >= 11
#define SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#elif defined(__x86_64__) && defined(__linux__) && !defined(TTFS_NO_CLONES) && defined(__clang__) && \
    __clang_major__ >= 14
#define SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SIMD_CLONES
#endif

/* index of the lowest set bit of a non-zero word */
static inline int lowest_bit(uint64_t bits)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(bits);
#else
    int i = 0;
    while (!(bits & 1)) { bits >>= 1; ++i; }
    return i;
#endif
}

enum { REGIME_EQUAL = 0, REGIME_DOUBLE = 1, REGIME_GENERAL = 2 };

/* -1/e as the nearest double, and the rounding error of that double (as in lambertw.py). */
#define BRANCH_POINT (-0.36787944117144233)
#define BRANCH_LO 1.2428753672749824e-17
#define M_E_ 2.718281828459045
/* Slack of the cheap interval bound, in units of the precision's epsilon (see forward_sample). */
#define BOUND_SLACK 64.0
/* Buckets per item of the forward kernel's counting sort (see sort_items). */
#define SORT_BUCKETS 4
/* Blocks of rows of the backward kernel, each with its own grad_w accumulator (see backward),
 * and the memory those may take together. */
#define BWD_BLOCKS 16
#define BWD_BLOCK_BYTES ((ptrdiff_t)32 << 20)
/* Neurons processed together by the forward kernel (see forward_sample); at most 64 (a bit mask). */
#define NEURON_BLOCK 64

typedef struct {
    int regime;
    double tau_m, tau_s, c;
    double g;            /* 1/tau_s - 1/tau_m, as (tau_m - tau_s) / (tau_s tau_m) */
    double log_term;     /* -log1p(-g tau_s), in the stationary point of f */
    double min_slope;    /* the slope floor is min_slope * c */
    double span_limit;   /* largest span of one sample's inputs before exp() overflows */
} neuron_t;

typedef struct {
    int tid;
    int error;   /* out of memory */
    double span; /* largest input span seen (forward) */
} thread_result;

typedef void (*rows_fn)(void *job, ptrdiff_t b0, ptrdiff_t b1, thread_result *res);

/* ------------------------------------------------------------------ threads */

typedef struct {
    rows_fn fn;
    void *job;
    ptrdiff_t b0, b1;
    ptrdiff_t *next, n_batch, chunk; /* dynamic schedule: shared cursor (NULL: the static block b0..b1) */
    thread_result res;
} worker_t;

static void *run_worker(void *arg)
{
    worker_t *wk = arg;
    if (!wk->next) {
        wk->fn(wk->job, wk->b0, wk->b1, &wk->res);
        return NULL;
    }
    for (;;) {
        ptrdiff_t b0 = __atomic_fetch_add(wk->next, wk->chunk, __ATOMIC_RELAXED);
        if (b0 >= wk->n_batch) return NULL;
        wk->fn(wk->job, b0, b0 + wk->chunk < wk->n_batch ? b0 + wk->chunk : wk->n_batch, &wk->res);
    }
}

/* torch's OpenMP runtime (libgomp), if this process has loaded it. After each parallel torch
 * operation its worker threads keep spinning (libgomp's default wait policy, ~10 ms here)
 * on the cores that pthreads started now would need: 3 runnable threads on 2 cores, and
 * 2 threads were measured at 1.0-1.9x of one. Run inside that same team instead, the
 * spinning workers take the work at once, and no thread is started per call (~50 us each).
 * GOMP_parallel is the ABI that `#pragma omp parallel` compiles to (GCC >= 4.9). */
typedef void (*gomp_parallel_t)(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
typedef int (*omp_int_t)(void);
static gomp_parallel_t gomp_parallel;
static omp_int_t omp_thread_num, omp_in_parallel;
static int use_openmp; /* 1: run in torch's OpenMP team (if found); 0: pthreads */

static void find_openmp(void)
{
    /* RTLD_NOLOAD: only a runtime that is already loaded (torch's); never load one ourselves */
    void *lib = dlopen("libgomp.so.1", RTLD_LAZY | RTLD_NOLOAD);
    if (!lib) return;
    gomp_parallel = (gomp_parallel_t)dlsym(lib, "GOMP_parallel");
    omp_thread_num = (omp_int_t)dlsym(lib, "omp_get_thread_num");
    omp_in_parallel = (omp_int_t)dlsym(lib, "omp_in_parallel");
    if (!gomp_parallel || !omp_thread_num || !omp_in_parallel) gomp_parallel = NULL;
    use_openmp = gomp_parallel != NULL;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Backing off from threads that do not get a core. A fork-join call waits for its slowest
 * thread; on a busy machine a helper thread can sit in the run queue for milliseconds (its
 * wake-up, or its last chunk), and 2 threads were measured at 0.1-0.5x of one. So each
 * parallel call measures how long the calling thread waited for the others after its own
 * share ran out; a wait above WAIT_FRACTION of its working time (and above WAIT_MIN) makes
 * the next `backoff_calls` calls run on the calling thread alone, a run twice as long after
 * each failed retry (up to BACKOFF_MAX), reset by a call whose helpers kept up. Either way
 * the rows go through the same blocks and accumulators, so results do not change. */
#define WAIT_FRACTION 0.25
#define WAIT_MIN 200e-6
#define BACKOFF_MAX 256
static int backoff_calls;    /* calls left to run on one thread */
static int backoff_length = 1; /* the next run of single-thread calls */

static int backing_off(void)
{
    int left = __atomic_load_n(&backoff_calls, __ATOMIC_RELAXED);
    if (left <= 0) return 0;
    __atomic_store_n(&backoff_calls, left - 1, __ATOMIC_RELAXED);
    return 1;
}

static void judge_helpers(double started, double own_done, double all_done)
{
    double wait = all_done - own_done, own = own_done - started;
    int length = __atomic_load_n(&backoff_length, __ATOMIC_RELAXED);
    if (wait > WAIT_MIN && wait > WAIT_FRACTION * own) {
        __atomic_store_n(&backoff_calls, length, __ATOMIC_RELAXED);
        __atomic_store_n(&backoff_length, length < BACKOFF_MAX ? 2 * length : BACKOFF_MAX, __ATOMIC_RELAXED);
    } else if (length > 1) {
        __atomic_store_n(&backoff_length, 1, __ATOMIC_RELAXED);
    }
}

typedef struct {
    worker_t *workers;
    int n_threads;
    char *ran;       /* ran[t]: worker t was run by team thread t */
    double own_done; /* when the calling thread (team thread 0) finished its share */
} team_t;

static void team_body(void *arg)
{
    team_t *team = arg;
    int t = omp_thread_num();
    if (t >= 0 && t < team->n_threads) {
        run_worker(&team->workers[t]);
        team->ran[t] = 1;
        if (t == 0) team->own_done = now_seconds();
    }
}

/* Runs fn over [0, n_batch) on up to n_threads threads; one of them is the calling thread.
 * chunk < 0 (static): contiguous blocks, one per thread (res.tid = the block).
 * chunk = 0 (dynamic): threads take chunks of rows from a shared cursor until none are left,
 * so a thread that gets its core late does less of the work instead of finishing last; for
 * kernels whose rows do not depend on which thread computes them (the forward kernels).
 * chunk > 0: the same with chunks of exactly `chunk` rows starting at multiples of it, so
 * the rows of chunk k are [k chunk, (k + 1) chunk) whatever the threads (the backward keeps
 * one accumulator per chunk: sums independent of the thread count).
 * A thread that cannot be started (or a team smaller than asked for, or backing_off()) leaves
 * its share to the calling thread. Returns the workers used (static: n_threads), -1 on error. */
static int run_rows(rows_fn fn, void *job, ptrdiff_t n_batch, int n_threads, ptrdiff_t chunk, double *span)
{
    worker_t stack_workers[16];
    if (n_threads < 1) n_threads = 1;
    if (n_threads > n_batch) n_threads = n_batch > 0 ? (int)n_batch : 1;
    if (chunk > 0 && n_threads > (n_batch + chunk - 1) / chunk) n_threads = (int)((n_batch + chunk - 1) / chunk);
    worker_t *workers = n_threads <= 16 ? stack_workers : malloc((size_t)n_threads * sizeof *workers);
    pthread_t *ids = malloc((size_t)n_threads * sizeof *ids);
    char *started = calloc((size_t)n_threads, 1);
    if (!workers || !ids || !started) {
        if (workers != stack_workers) free(workers);
        free(ids);
        free(started);
        return -1;
    }
    ptrdiff_t next = 0;
    if (chunk == 0) chunk = n_batch / (16 * (ptrdiff_t)n_threads);
    if (chunk == 0) chunk = 1;
    for (int t = 0; t < n_threads; ++t) {
        workers[t].fn = fn;
        workers[t].job = job;
        workers[t].b0 = n_batch * t / n_threads;
        workers[t].b1 = n_batch * (t + 1) / n_threads;
        workers[t].next = chunk > 0 ? &next : NULL;
        workers[t].n_batch = n_batch;
        workers[t].chunk = chunk;
        workers[t].res.tid = t;
        workers[t].res.error = 0;
        workers[t].res.span = 0.0;
    }
    if (n_threads == 1 || backing_off()) {
        for (int t = 0; t < n_threads; ++t) run_worker(&workers[t]); /* dynamic: the first takes all */
    } else if (use_openmp && !omp_in_parallel()) {
        team_t team = {workers, n_threads, started, 0.0};
        double t0 = now_seconds();
        gomp_parallel(team_body, &team, (unsigned)n_threads, 0);
        double t1 = now_seconds();
        for (int t = 0; t < n_threads; ++t)
            if (!started[t]) run_worker(&workers[t]);
        if (started[0]) judge_helpers(t0, team.own_done, t1);
    } else {
        double t0 = now_seconds();
        for (int t = 1; t < n_threads; ++t) started[t] = pthread_create(&ids[t], NULL, run_worker, &workers[t]) == 0;
        run_worker(&workers[0]);
        double own = now_seconds();
        for (int t = 1; t < n_threads; ++t) {
            if (started[t]) pthread_join(ids[t], NULL);
            else run_worker(&workers[t]);
        }
        judge_helpers(t0, own, now_seconds());
    }
    int error = 0;
    double worst = 0.0;
    for (int t = 0; t < n_threads; ++t) {
        error |= workers[t].res.error;
        if (workers[t].res.span > worst) worst = workers[t].res.span;
    }
    if (span) *span = worst;
    if (workers != stack_workers) free(workers);
    free(ids);
    free(started);
    return error ? -1 : n_threads;
}

/* dynamic = 1: run_rows' dynamic schedule, 0: static */
static int run_parallel(rows_fn fn, void *job, ptrdiff_t n_batch, int n_threads, int dynamic, double *span)
{
    return run_rows(fn, job, n_batch, n_threads, dynamic ? 0 : -1, span);
}

/* ------------------------------------------------------------------ exp for vectorised loops */

/* exp() written with arithmetic only, so that loops calling it vectorise (libm's exp is a
 * function call). Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2; Taylor polynomial of
 * degree 13 (float: 7), truncation below 1e-17 (float 1e-8); scaling by 2^k in two halves
 * so that results down to the denormal range and up to overflow are right.
 * Error <= 2 ulp; exp(-inf) = 0, exp(inf) = inf, exp(nan) = nan. */
static inline ALWAYS_INLINE double pow2i_f64(double j) /* 2^j for integer j in [-1022, 1023] */
{
    double u = j + (1023.0 + 4503599627370496.0); /* 2^52: j + 1023 lands in the low mantissa bits */
    int64_t bits;
    memcpy(&bits, &u, sizeof bits);
    bits = (bits - INT64_C(0x4330000000000000)) << 52;
    double r;
    memcpy(&r, &bits, sizeof r);
    return r;
}

static inline ALWAYS_INLINE double vexp_f64(double x)
{
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: adding it rounds to an integer */
    const double log2e = 1.4426950408889634, ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    double xc = x < -746.0 ? -746.0 : x;
    xc = xc > 710.0 ? 710.0 : xc;
    double k = (xc * log2e + shifter) - shifter;
    double r = (xc - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 6227020800.0;
    p = fma(p, r, 1.0 / 479001600.0);
    p = fma(p, r, 1.0 / 39916800.0);
    p = fma(p, r, 1.0 / 3628800.0);
    p = fma(p, r, 1.0 / 362880.0);
    p = fma(p, r, 1.0 / 40320.0);
    p = fma(p, r, 1.0 / 5040.0);
    p = fma(p, r, 1.0 / 720.0);
    p = fma(p, r, 1.0 / 120.0);
    p = fma(p, r, 1.0 / 24.0);
    p = fma(p, r, 1.0 / 6.0);
    p = fma(p, r, 0.5);
    p = fma(p, r, 1.0);
    p = fma(p, r, 1.0);
    double ka = (k * 0.5 + shifter) - shifter, kb = k - ka;
    double y = p * pow2i_f64(ka) * pow2i_f64(kb);
    return x != x ? x : y;
}

static inline ALWAYS_INLINE float pow2i_f32(float j) /* 2^j for integer j in [-126, 127] */
{
    float u = j + (127.0f + 8388608.0f); /* 2^23 */
    int32_t bits;
    memcpy(&bits, &u, sizeof bits);
    bits = (bits - INT32_C(0x4B000000)) << 23;
    float r;
    memcpy(&r, &bits, sizeof r);
    return r;
}

static inline ALWAYS_INLINE float vexp_f32(float x)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    const float log2e = 1.44269504f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    float xc = x < -104.0f ? -104.0f : x;
    xc = xc > 89.0f ? 89.0f : xc;
    float k = (xc * log2e + shifter) - shifter;
    float r = (xc - k * ln2_hi) - k * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = fmaf(p, r, 1.0f / 720.0f);
    p = fmaf(p, r, 1.0f / 120.0f);
    p = fmaf(p, r, 1.0f / 24.0f);
    p = fmaf(p, r, 1.0f / 6.0f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    float ka = (k * 0.5f + shifter) - shifter, kb = k - ka;
    float y = p * pow2i_f32(ka) * pow2i_f32(kb);
    return x != x ? x : y;
}

/* expm1(x) for vectorised loops: Taylor polynomial for |x| < 1/2 (where exp(x) - 1 would cancel),
 * exp(x) - 1 elsewhere; error a few ulp. */
static inline ALWAYS_INLINE double vexpm1_f64(double x)
{
    double p = 1.0 / 87178291200.0;
    p = fma(p, x, 1.0 / 6227020800.0);
    p = fma(p, x, 1.0 / 479001600.0);
    p = fma(p, x, 1.0 / 39916800.0);
    p = fma(p, x, 1.0 / 3628800.0);
    p = fma(p, x, 1.0 / 362880.0);
    p = fma(p, x, 1.0 / 40320.0);
    p = fma(p, x, 1.0 / 5040.0);
    p = fma(p, x, 1.0 / 720.0);
    p = fma(p, x, 1.0 / 120.0);
    p = fma(p, x, 1.0 / 24.0);
    p = fma(p, x, 1.0 / 6.0);
    p = fma(p, x, 0.5);
    p = fma(p, x, 1.0);
    double big = vexp_f64(x) - 1.0;
    return fabs(x) < 0.5 ? p * x : big;
}

static inline ALWAYS_INLINE float vexpm1_f32(float x)
{
    float p = 1.0f / 362880.0f;
    p = fmaf(p, x, 1.0f / 40320.0f);
    p = fmaf(p, x, 1.0f / 5040.0f);
    p = fmaf(p, x, 1.0f / 720.0f);
    p = fmaf(p, x, 1.0f / 120.0f);
    p = fmaf(p, x, 1.0f / 24.0f);
    p = fmaf(p, x, 1.0f / 6.0f);
    p = fmaf(p, x, 0.5f);
    p = fmaf(p, x, 1.0f);
    float big = vexp_f32(x) - 1.0f;
    return fabsf(x) < 0.5f ? p * x : big;
}

/* ------------------------------------------------------------------ sorting 25..128 keys with AVX-512 */

/* The forward kernels walk each sample's inputs in ascending order of time, ties in input order
 * (a stable sort: the prefix sums add in that order, so the order is part of the result's bits).
 * For 25..128 inputs (a hidden layer's times feeding the next layer) the counting sort of
 * sort_items was ~60 % of a 121 -> 3 layer. Here, where the CPU has AVX-512F: each item becomes
 * one unsigned 64-bit word that orders as (key, position) does -- the key's bits mapped to an
 * unsigned order (sign flipped, negatives complemented; -0 as +0, which compare equal), then the
 * position in the low bits (float: key << 32 | position, exact; double: the key's low 7 bits give
 * way to the position, so keys within 127 ulp of each other may come out of order, and one
 * insertion pass on the true keys puts them back, stably) -- and a bitonic network sorts the
 * words, padded with UINT64_MAX to 64 or 128: the 16 (resp. 8) registers' columns by a network
 * across registers, an 8 x 8 transpose, then bitonic merges of the runs. The same permutation as
 * any stable sort, so the same bits; tests/test_native.py compares it with sort_items' own. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(TTFS_NO_CLONES)
#include <immintrin.h>
#define HAVE_SORT512 1
static int have_sort512; /* the CPU has AVX-512F (set at import) */
static int use_sort512;  /* have_sort512 && use_fast */

#define SORT512_TARGET __attribute__((target("avx512f")))

SORT512_TARGET static inline void cmpx512(__m512i *a, __m512i *b)
{
    __m512i lo = _mm512_min_epu64(*a, *b);
    *b = _mm512_max_epu64(*a, *b);
    *a = lo;
}

/* Bitonic clean-up inside one register: lanes at distance 4, 2, 1 (ascending). */
SORT512_TARGET static inline __m512i clean512(__m512i v)
{
    __m512i p = _mm512_shuffle_i64x2(v, v, 0x4E); /* swap 256-bit halves: lane ^ 4 */
    v = _mm512_mask_blend_epi64(0xF0, _mm512_min_epu64(v, p), _mm512_max_epu64(v, p));
    p = _mm512_permutex_epi64(v, 0x4E); /* lane ^ 2 */
    v = _mm512_mask_blend_epi64(0xCC, _mm512_min_epu64(v, p), _mm512_max_epu64(v, p));
    p = _mm512_shuffle_epi32(v, (_MM_PERM_ENUM)0x4E); /* lane ^ 1 */
    v = _mm512_mask_blend_epi64(0xAA, _mm512_min_epu64(v, p), _mm512_max_epu64(v, p));
    return v;
}

/* 8 x 8 transpose of 64-bit lanes: r[i] lane l -> r[l] lane i. */
SORT512_TARGET static inline void transpose512(__m512i *r)
{
    __m512i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_epi64(r[i], r[i + 1]);     /* r_i0 r_(i+1)0 r_i2 r_(i+1)2 ... */
        t[i + 1] = _mm512_unpackhi_epi64(r[i], r[i + 1]); /* r_i1 r_(i+1)1 r_i3 ... */
    }
    const __m512i lo2 = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0), hi2 = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    for (int i = 0; i < 8; i += 4)
        for (int k = 0; k < 2; ++k) {
            u[i + k] = _mm512_permutex2var_epi64(t[i + k], lo2, t[i + 2 + k]);
            u[i + 2 + k] = _mm512_permutex2var_epi64(t[i + k], hi2, t[i + 2 + k]);
        }
    const __m512i lo4 = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0), hi4 = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4);
    for (int k = 0; k < 4; ++k) {
        r[k] = _mm512_permutex2var_epi64(u[k], lo4, u[k + 4]);
        r[k + 4] = _mm512_permutex2var_epi64(u[k], hi4, u[k + 4]);
    }
}

/* Merges runs of `run` registers (sorted ascending, in register order) pairwise, R registers. */
SORT512_TARGET static inline void merge512(__m512i *r, int R, int run)
{
    const __m512i rev = _mm512_set_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    for (int s = 0; s < R; s += 2 * run) {
        __m512i *a = r + s, *b = r + s + run;
        for (int i = 0; i < run / 2; ++i) { /* reverse the second run */
            __m512i t = _mm512_permutexvar_epi64(rev, b[i]);
            b[i] = _mm512_permutexvar_epi64(rev, b[run - 1 - i]);
            b[run - 1 - i] = t;
        }
        if (run == 1) b[0] = _mm512_permutexvar_epi64(rev, b[0]);
        for (int i = 0; i < run; ++i) cmpx512(&a[i], &b[i]);
        for (int half = 0; half < 2; ++half) {
            __m512i *h = half ? b : a;
            for (int d = run / 2; d > 0; d /= 2)
                for (int i = 0; i < run; ++i)
                    if (!(i & d)) cmpx512(&h[i], &h[i + d]);
            for (int i = 0; i < run; ++i) h[i] = clean512(h[i]);
        }
    }
}

/* Sorts v[0..n) ascending, n <= 8 R, R = 8 or 16; v has room for 8 R words. */
SORT512_TARGET static void sort512(uint64_t *v, int n, int R)
{
    __m512i r[16];
    for (int i = n; i < 8 * R; ++i) v[i] = UINT64_MAX;
    for (int i = 0; i < R; ++i) r[i] = _mm512_loadu_si512((const void *)(v + 8 * i));
    /* columns: a bitonic sorting network across the registers */
    for (int k = 2; k <= R; k <<= 1)
        for (int j = k >> 1; j > 0; j >>= 1)
            for (int i = 0; i < R; ++i) {
                int l = i ^ j;
                if (l <= i) continue;
                if (!(i & k)) cmpx512(&r[i], &r[l]);
                else cmpx512(&r[l], &r[i]);
            }
    /* column c of registers 8h..8h+7 -> register 8h + c: run c is registers c and 8 + c */
    transpose512(r);
    if (R == 16) {
        transpose512(r + 8);
        __m512i t[16];
        for (int c = 0; c < 8; ++c) { t[2 * c] = r[c]; t[2 * c + 1] = r[8 + c]; }
        for (int i = 0; i < 16; ++i) r[i] = t[i];
    }
    for (int run = R / 8; run < R; run *= 2) merge512(r, R, run);
    for (int i = 0; i < R; ++i) _mm512_storeu_si512((void *)(v + 8 * i), r[i]);
}

static inline uint64_t order_bits_f64(double key)
{
    double k = key + 0.0; /* -0 -> +0 */
    uint64_t u;
    memcpy(&u, &k, sizeof u);
    return u >> 63 ? ~u : u | (UINT64_C(1) << 63);
}

static inline uint64_t order_bits_f32(float key)
{
    float k = key + 0.0f;
    uint32_t u;
    memcpy(&u, &k, sizeof u);
    return (uint64_t)(u >> 31 ? ~u : u | (UINT32_C(1) << 31));
}
#else
#define HAVE_SORT512 0
static int use_sort512, have_sort512;
#endif
/* 0: the forward walk as in commit bb5101e (forward_impl("reference"), to test the fast paths against) */
static int use_fast = 1;

/* float32 */
#define REAL float
#define SFX(name) name##_f32
#define FLAG_T int32_t
#define EXP expf
#define FMA fmaf
#define EXPM1 expm1f
#define LOG1P log1pf
#define VEXPM1 vexpm1_f32
#define LOG logf
#define VEXP vexp_f32
#define SQRT sqrtf
#define FABS fabsf
#define EPS FLT_EPSILON
#include "ttfs_kernels.inc"
#include "ttfs_delays.inc" /* synaptic delays */
#include "ttfs_train.inc" /* the fused training step */
#undef REAL
#undef SFX
#undef FLAG_T
#undef EXP
#undef FMA
#undef EXPM1
#undef LOG1P
#undef VEXPM1
#undef LOG
#undef VEXP
#undef SQRT
#undef FABS
#undef EPS

/* float64 */
#define REAL double
#define SFX(name) name##_f64
#define FLAG_T int64_t
#define EXP exp
#define FMA fma
#define EXPM1 expm1
#define LOG1P log1p
#define VEXPM1 vexpm1_f64
#define LOG log
#define VEXP vexp_f64
#define SQRT sqrt
#define FABS fabs
#define EPS DBL_EPSILON
#include "ttfs_kernels.inc"
#include "ttfs_delays.inc" /* synaptic delays */
#include "ttfs_train.inc" /* the fused training step */
#undef REAL
#undef SFX
#undef FLAG_T
#undef EXP
#undef FMA
#undef EXPM1
#undef LOG1P
#undef VEXPM1
#undef LOG
#undef VEXP
#undef SQRT
#undef FABS
#undef EPS

/* ------------------------------------------------------------------ Python bindings */

static int parse_neuron(neuron_t *nr, int regime, double tau_m, double tau_s, double c, double min_slope,
                        double span_limit)
{
    if (regime < REGIME_EQUAL || regime > REGIME_GENERAL || !(tau_m > 0) || !(tau_s > 0) || !(c > 0)) {
        PyErr_SetString(PyExc_ValueError, "invalid neuron parameters");
        return -1;
    }
    nr->regime = regime;
    nr->tau_m = tau_m;
    nr->tau_s = tau_s;
    nr->c = c;
    nr->g = regime == REGIME_EQUAL ? 0.0 : (tau_m - tau_s) / (tau_s * tau_m);
    nr->log_term = regime == REGIME_EQUAL ? 0.0 : -log1p(-nr->g * tau_s);
    nr->min_slope = min_slope;
    nr->span_limit = span_limit;
    return 0;
}

PyDoc_STRVAR(forward_doc,
    "forward(is_double, x, w, times, slopes, B, N, M, regime, tau_m, tau_s, c, span_limit, n_threads)"
    " -> largest input span\n\n"
    "x [B, N], w [N, M] (read), times, slopes [B, M] (written): addresses of contiguous C arrays\n"
    "of float64 (is_double) or float32. regime: 0 tau_m = tau_s, 1 tau_m = 2 tau_s, 2 other.\n"
    "Samples whose input span exceeds span_limit are left silent: the caller must raise.");

static PyObject *py_forward(PyObject *self, PyObject *args)
{
    int is_double, regime, n_threads;
    unsigned long long x, w, times, slopes;
    Py_ssize_t B, N, M;
    double tau_m, tau_s, c, span_limit;
    (void)self;
    if (!PyArg_ParseTuple(args, "pKKKKnnnidddd" "i", &is_double, &x, &w, &times, &slopes, &B, &N, &M, &regime,
                          &tau_m, &tau_s, &c, &span_limit, &n_threads))
        return NULL;
    neuron_t nr;
    if (parse_neuron(&nr, regime, tau_m, tau_s, c, 0.0, span_limit)) return NULL;
    if (B < 0 || N < 0 || M < 0 || N > INT_MAX - 2) {
        PyErr_SetString(PyExc_ValueError, "invalid sizes");
        return NULL;
    }
    if (B == 0 || M == 0) return PyFloat_FromDouble(0.0);
    double span = 0.0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    if (is_double) {
        fwd_job_f64 job = {&nr, (const double *)(uintptr_t)x, (const double *)(uintptr_t)w,
                           (double *)(uintptr_t)times, (double *)(uintptr_t)slopes, N, M};
        rc = run_parallel(forward_rows_f64, &job, B, n_threads, 1, &span);
    } else {
        fwd_job_f32 job = {&nr, (const float *)(uintptr_t)x, (const float *)(uintptr_t)w,
                           (float *)(uintptr_t)times, (float *)(uintptr_t)slopes, N, M};
        rc = run_parallel(forward_rows_f32, &job, B, n_threads, 1, &span);
    }
    Py_END_ALLOW_THREADS
    if (rc < 0) return PyErr_NoMemory();
    return PyFloat_FromDouble(span);
}

PyDoc_STRVAR(forward_per_neuron_doc,
    "forward_per_neuron(is_double, x, w, tau_m, tau_s, c, times, B, N, M, span_limit, n_threads)"
    " -> largest input span\n\n"
    "x [B, N], w [N, M], tau_m, tau_s [M], c [B, M] (read), times [B, M] (written): addresses of\n"
    "contiguous C arrays of float64 (is_double) or float32. Each neuron has its own time constants\n"
    "and, per sample, threshold drive c. Samples whose input span exceeds span_limit are left\n"
    "silent: the caller must raise.");

/* A neuron's constants, classified into regimes as NeuronParams.regime does. */
static int per_neuron_constants(neuron_t *nr, double tau_m, double tau_s, double span_limit)
{
    if (!(tau_m > 0) || !(tau_s > 0) || isinf(tau_m) || isinf(tau_s)) return -1;
    const double rtol = 1e-9; /* ttfs_lab.params._SAME_TAU_RTOL */
    int regime = REGIME_GENERAL;
    if (fabs(tau_m - tau_s) <= rtol * fmax(tau_m, tau_s)) regime = REGIME_EQUAL;
    else if (fabs(tau_m - 2.0 * tau_s) <= rtol * fmax(tau_m, 2.0 * tau_s)) regime = REGIME_DOUBLE;
    /* tau_m = tau_s: one tau (tau_s) throughout, g = 0 (the kernels' limits) */
    if (regime == REGIME_EQUAL) tau_m = tau_s;
    return parse_neuron(nr, regime, tau_m, tau_s, 1.0, 0.0, span_limit);
}

static PyObject *py_forward_per_neuron(PyObject *self, PyObject *args)
{
    int is_double, n_threads;
    unsigned long long x, w, tau_m, tau_s, c, times;
    Py_ssize_t B, N, M;
    double span_limit;
    (void)self;
    if (!PyArg_ParseTuple(args, "pKKKKKKnnndi", &is_double, &x, &w, &tau_m, &tau_s, &c, &times, &B, &N, &M,
                          &span_limit, &n_threads))
        return NULL;
    if (B < 0 || N < 0 || M < 0 || N > INT_MAX - 2) {
        PyErr_SetString(PyExc_ValueError, "invalid sizes");
        return NULL;
    }
    if (B == 0 || M == 0) return PyFloat_FromDouble(0.0);
    neuron_t *nrs = malloc((size_t)M * sizeof *nrs);
    if (!nrs) return PyErr_NoMemory();
    for (Py_ssize_t m = 0; m < M; ++m) {
        double tm = is_double ? ((const double *)(uintptr_t)tau_m)[m] : ((const float *)(uintptr_t)tau_m)[m];
        double ts = is_double ? ((const double *)(uintptr_t)tau_s)[m] : ((const float *)(uintptr_t)tau_s)[m];
        if (per_neuron_constants(&nrs[m], tm, ts, span_limit)) {
            free(nrs);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "invalid neuron parameters");
            return NULL;
        }
    }
    double span = 0.0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    if (is_double) {
        pn_job_f64 job = {nrs, (const double *)(uintptr_t)x, (const double *)(uintptr_t)w,
                          (const double *)(uintptr_t)c, (double *)(uintptr_t)times, N, M};
        rc = run_parallel(pn_rows_f64, &job, B, n_threads, 1, &span);
    } else {
        pn_job_f32 job = {nrs, (const float *)(uintptr_t)x, (const float *)(uintptr_t)w,
                          (const float *)(uintptr_t)c, (float *)(uintptr_t)times, N, M};
        rc = run_parallel(pn_rows_f32, &job, B, n_threads, 1, &span);
    }
    Py_END_ALLOW_THREADS
    free(nrs);
    if (rc < 0) return PyErr_NoMemory();
    return PyFloat_FromDouble(span);
}

PyDoc_STRVAR(backward_doc,
    "backward(is_double, x, w, times, slopes, grad_times, grad_x, grad_w, B, N, M, regime, tau_m, tau_s,"
    " c, min_slope, span_limit, n_threads) -> None\n\n"
    "grad_x [B, N] is overwritten, grad_w [N, M] is accumulated into (pass zeros); either address\n"
    "may be 0 to skip it. Silent neurons (times = inf) and zero grad_times pass nothing.");

static PyObject *py_backward(PyObject *self, PyObject *args)
{
    int is_double, regime, n_threads;
    unsigned long long x, w, times, slopes, grad_times, grad_x, grad_w;
    Py_ssize_t B, N, M;
    double tau_m, tau_s, c, min_slope, span_limit;
    (void)self;
    if (!PyArg_ParseTuple(args, "pKKKKKKKnnnidddddi", &is_double, &x, &w, &times, &slopes, &grad_times, &grad_x,
                          &grad_w, &B, &N, &M, &regime, &tau_m, &tau_s, &c, &min_slope, &span_limit, &n_threads))
        return NULL;
    neuron_t nr;
    if (parse_neuron(&nr, regime, tau_m, tau_s, c, min_slope, span_limit)) return NULL;
    if (B < 0 || N < 0 || M < 0) {
        PyErr_SetString(PyExc_ValueError, "invalid sizes");
        return NULL;
    }
    if (B == 0 || N == 0 || M == 0 || (!grad_x && !grad_w)) Py_RETURN_NONE;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > B) n_threads = (int)B;
    const int neuron_major = M < 16 && N > M;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    if (is_double) {
        bwd_job_f64 job = {&nr, (const double *)(uintptr_t)x, (const double *)(uintptr_t)w,
                           (const double *)(uintptr_t)times, (const double *)(uintptr_t)slopes,
                           (const double *)(uintptr_t)grad_times, NULL, (double *)(uintptr_t)grad_x, NULL,
                           neuron_major, N, M};
        rc = backward_f64(&job, (double *)(uintptr_t)grad_w, B, n_threads);
    } else {
        bwd_job_f32 job = {&nr, (const float *)(uintptr_t)x, (const float *)(uintptr_t)w,
                           (const float *)(uintptr_t)times, (const float *)(uintptr_t)slopes,
                           (const float *)(uintptr_t)grad_times, NULL, (float *)(uintptr_t)grad_x, NULL,
                           neuron_major, N, M};
        rc = backward_f32(&job, (float *)(uintptr_t)grad_w, B, n_threads);
    }
    Py_END_ALLOW_THREADS
    if (rc < 0) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(thread_pool_doc,
    "thread_pool(name=None) -> the pool in use before the call\n\n"
    "\"openmp\": torch's OpenMP team (the default where torch's libgomp is loaded), \"pthreads\": threads\n"
    "started per call. name=None only reports. \"openmp\" without a loaded libgomp is a ValueError.");

static PyObject *py_thread_pool(PyObject *self, PyObject *args)
{
    const char *name = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "|z", &name)) return NULL;
    const char *previous = use_openmp ? "openmp" : "pthreads";
    if (name) {
        if (!strcmp(name, "openmp") && gomp_parallel) use_openmp = 1;
        else if (!strcmp(name, "pthreads")) use_openmp = 0;
        else {
            PyErr_Format(PyExc_ValueError, "thread pool must be 'pthreads'%s, got %R",
                         gomp_parallel ? " or 'openmp'" : " ('openmp': no libgomp loaded)", PyTuple_GET_ITEM(args, 0));
            return NULL;
        }
    }
    return PyUnicode_FromString(previous);
}

PyDoc_STRVAR(forward_impl_doc,
    "forward_impl(name=None) -> the forward walk in use before the call\n\n"
    "\"fast\" (the default): the AVX-512 sort of 25..128 input times where the CPU has AVX-512F, and the\n"
    "register walk of blocks of <= 4 neurons (tau_m = tau_s); \"reference\": the counting sort and the\n"
    "general block walk they replace (commit bb5101e). Both give the same bits (tests/test_native.py).\n"
    "name=None only reports.");

static PyObject *py_forward_impl(PyObject *self, PyObject *args)
{
    const char *name = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "|z", &name)) return NULL;
    const char *previous = use_fast ? "fast" : "reference";
    if (name) {
        if (!strcmp(name, "fast")) use_fast = 1;
        else if (!strcmp(name, "reference")) use_fast = 0;
        else {
            PyErr_Format(PyExc_ValueError, "forward_impl must be 'fast' or 'reference', got %R", PyTuple_GET_ITEM(args, 0));
            return NULL;
        }
        use_sort512 = use_fast && have_sort512;
    }
    return PyUnicode_FromString(previous);
}

PyDoc_STRVAR(thread_backoff_doc,
    "thread_backoff(calls=None) -> calls left before the call\n\n"
    "Parallel calls still to run on the calling thread alone (the back-off after helpers that did\n"
    "not get a core, see run_rows); calls sets it (0: use threads again at once).");

static PyObject *py_thread_backoff(PyObject *self, PyObject *args)
{
    int calls = -1;
    (void)self;
    if (!PyArg_ParseTuple(args, "|i", &calls)) return NULL;
    int previous = __atomic_load_n(&backoff_calls, __ATOMIC_RELAXED);
    if (calls >= 0) {
        __atomic_store_n(&backoff_calls, calls, __ATOMIC_RELAXED);
        if (calls == 0) __atomic_store_n(&backoff_length, 1, __ATOMIC_RELAXED);
    }
    return PyLong_FromLong(previous > 0 ? previous : 0);
}

#define TTFS_DELAYS_BINDINGS
#include "ttfs_delays.inc"
#define TTFS_TRAIN_BINDINGS
#include "ttfs_train.inc"

static PyMethodDef methods[] = {
    {"forward", py_forward, METH_VARARGS, forward_doc},
    {"forward_per_neuron", py_forward_per_neuron, METH_VARARGS, forward_per_neuron_doc},
    {"backward", py_backward, METH_VARARGS, backward_doc},
    {"thread_pool", py_thread_pool, METH_VARARGS, thread_pool_doc},
    {"thread_backoff", py_thread_backoff, METH_VARARGS, thread_backoff_doc},
    {"forward_impl", py_forward_impl, METH_VARARGS, forward_impl_doc},
    TTFS_DELAYS_METHODS
    TTFS_TRAIN_METHODS
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "Compiled first-spike-time kernels (see ttfs_lab/native.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void)
{
    find_openmp();
#if HAVE_SORT512
    __builtin_cpu_init();
    have_sort512 = use_sort512 = __builtin_cpu_supports("avx512f");
#endif
    return PyModule_Create(&module);
}
