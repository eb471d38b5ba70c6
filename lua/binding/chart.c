/* chart.c: log-log line charts drawn into a pixel buffer and written as PNG,
 * for studies such as experiments/sampler_study.lua (error against NFE).
 *
 *   dk.chart_loglog{ path = "chart.png", width = 1200, height = 800,
 *                    title = "...", xlabel = "...", ylabel = "...",
 *                    series = { { label = "euler", x = {..}, y = {..},
 *                                 color = {r, g, b} (optional), dashed = false,
 *                                 ylo = {..}, yhi = {..} (optional error bars) }, ... } }
 *
 * Axes span whole decades around the data (points with x <= 0 or y <= 0 or
 * non-finite values are skipped), with a grid line at each decade and minor
 * ticks at 2..9. Lines are 2 pixels wide with a small square marker at each
 * point (hollow for dashed series); the legend sits to the right of the plot.
 * Text uses a built-in 5x7 bitmap font drawn at 2x. Colours cycle through a
 * 16-colour palette when a series gives none. */
#include "dkl.h"
#include "diffkit/image.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 5x7 font: 7 rows of 5 pixels per glyph, '#' = ink ------------------- */
typedef struct glyph {
    char c;
    const char *rows; /* 7 rows x 5 columns, row-major */
} glyph;

static const glyph font[] = {
    {'0', ".###.#...##..###.#.###..##...#.###."},
    {'1', "..#...##....#....#....#....#...###."},
    {'2', ".###.#...#....#...#...#...#...#####"},
    {'3', "#####...#...#.....#.....##...#.###."},
    {'4', "...#...##..#.#.#..#.#####...#....#."},
    {'5', "######....####.....#....##...#.###."},
    {'6', "..##..#...#....####.#...##...#.###."},
    {'7', "#####....#...#...#...#....#....#..."},
    {'8', ".###.#...##...#.###.#...##...#.###."},
    {'9', ".###.#...##...#.####....#...#..##.."},
    {'a', "...........###.....#.#####...#.####"},
    {'b', "#....#....#.##.##..##...##...#####."},
    {'c', "...........###.#....#....#...#.###."},
    {'d', "....#....#.##.##..###...##...#.####"},
    {'e', "...........###.#...#######.....###."},
    {'f', "..##..#..#.#...###...#....#....#..."},
    {'g', ".#####...##...#.####....##...#.###."},
    {'h', "#....#....#.##.##..##...##...##...#"},
    {'i', "..#........##....#....#....#...###."},
    {'j', "...#........##....#....#.#..#..##.."},
    {'k', "#....#....#..#.#.#..##...#.#..#..#."},
    {'l', ".##....#....#....#....#....#...###."},
    {'m', "..........##.#.#.#.##.#.##...##...#"},
    {'n', "..........#.##.##..##...##...##...#"},
    {'o', "...........###.#...##...##...#.###."},
    {'p', "####.#...##...#####.#....#....#...."},
    {'q', ".#####...##...#.####....#....#....#"},
    {'r', "..........#.##.##..##....#....#...."},
    {'s', "...........###.#.....###.....#####."},
    {'t', ".#....#...###...#....#....#..#..##."},
    {'u', "..........#...##...##...##..##.##.#"},
    {'v', "..........#...##...##...#.#.#...#.."},
    {'w', "..........#...##...##.#.##.#.#.#.#."},
    {'x', "..........#...#.#.#...#...#.#.#...#"},
    {'y', "#...##...##...#.####....##...#.###."},
    {'z', "..........#####...#...#...#...#####"},
    {'A', ".###.#...##...#######...##...##...#"},
    {'B', "####.#...##...#####.#...##...#####."},
    {'C', ".###.#...##....#....#....#...#.###."},
    {'D', "###..#..#.#...##...##...##..#.###.."},
    {'E', "######....#....####.#....#....#####"},
    {'F', "######....#....####.#....#....#...."},
    {'G', ".###.#...##....#.####...##...#.####"},
    {'H', "#...##...##...#######...##...##...#"},
    {'I', ".###...#....#....#....#....#...###."},
    {'J', "..###...#....#....#....#.#..#..##.."},
    {'K', "#...##..#.#.#..##...#.#..#..#.#...#"},
    {'L', "#....#....#....#....#....#....#####"},
    {'M', "#...###.###.#.##.#.##...##...##...#"},
    {'N', "#...##...###..##.#.##..###...##...#"},
    {'O', ".###.#...##...##...##...##...#.###."},
    {'P', "####.#...##...#####.#....#....#...."},
    {'Q', ".###.#...##...##...##.#.##..#..##.#"},
    {'R', "####.#...##...#####.#.#..#..#.#...#"},
    {'S', ".#####....#.....###.....#....#####."},
    {'T', "#####..#....#....#....#....#....#.."},
    {'U', "#...##...##...##...##...##...#.###."},
    {'V', "#...##...##...##...##...#.#.#...#.."},
    {'W', "#...##...##...##.#.##.#.##.#.#.#.#."},
    {'X', "#...##...#.#.#...#...#.#.#...##...#"},
    {'Y', "#...##...##...#.#.#...#....#....#.."},
    {'Z', "#####....#...#...#...#...#....#####"},
    {'-', "...............#####..............."},
    {'+', ".......#....#..#####..#....#......."},
    {'.', "..........................##...##.."},
    {',', ".....................##....#...#..."},
    {'(', "...#...#...#....#....#.....#.....#."},
    {')', ".#.....#.....#....#....#...#...#..."},
    {'_', "..............................#####"},
    {'=', "..........#####.....#####.........."},
    {'/', ".........#...#...#...#...#........."},
    {':', "......##...##........##...##......."},
    {'^', "..#...#.#.#...#...................."},
    {'%', "##...##..#...#...#...#...#..##...##"},
    {'[', ".###..#....#....#....#....#....###."},
    {']', ".###....#....#....#....#....#..###."},
    {'<', "...#...#...#...#.....#.....#.....#."},
    {'>', ".#.....#.....#.....#...#...#...#..."},
    {'\'', "..#....#...#......................."},
    {'*', ".......#..#.#.#.###.#.#.#..#......."},
    {'!', "..#....#....#....#....#.........#.."},
    {'?', ".###.#...#....#...#...#.........#.."},
    {';', "......##...##........##....#...#..."},
    {'~', "...........#...#.#.#...#..........."},
};
#define GLYPH_W 5
#define GLYPH_H 7

static const char *glyph_rows(char c) {
    size_t i;
    for (i = 0; i < sizeof font / sizeof font[0]; i++)
        if (font[i].c == c) return font[i].rows;
    return NULL; /* space and unknown characters draw nothing */
}

/* ---- canvas --------------------------------------------------------------- */
typedef struct canvas {
    uint8_t *px; /* RGB rows */
    int w, h;
    int cx0, cy0, cx1, cy1; /* clip rectangle, inclusive */
} canvas;

static void put(canvas *c, int x, int y, const uint8_t rgb[3]) {
    if (x < c->cx0 || x > c->cx1 || y < c->cy0 || y > c->cy1) return;
    memcpy(c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3, rgb, 3);
}

static void fill_rect(canvas *c, int x0, int y0, int x1, int y1, const uint8_t rgb[3]) {
    int x, y;
    for (y = y0; y <= y1; y++)
        for (x = x0; x <= x1; x++) put(c, x, y, rgb);
}

/* Text at (x, y) = top-left, each font pixel a scale x scale block. */
static void text(canvas *c, int x, int y, const char *s, int scale, const uint8_t rgb[3]) {
    for (; *s; s++, x += (GLYPH_W + 1) * scale) {
        const char *rows = glyph_rows(*s);
        int r, k;
        int drop = strchr("gpqy", *s) ? 2 * scale : 0; /* descenders: drawn 2 font pixels lower */
        if (!rows) continue;
        for (r = 0; r < GLYPH_H; r++)
            for (k = 0; k < GLYPH_W; k++)
                if (rows[r * GLYPH_W + k] == '#')
                    fill_rect(c, x + k * scale, y + drop + r * scale, x + k * scale + scale - 1, y + drop + r * scale + scale - 1, rgb);
    }
}
static int text_width(const char *s, int scale) { return (int)strlen(s) * (GLYPH_W + 1) * scale - scale; }

/* A line of the given width (1 or 2 px); dash > 0 draws dash px on, dash px off. */
static void line(canvas *c, double x0, double y0, double x1, double y1, int width, int dash, const uint8_t rgb[3]) {
    double dx = x1 - x0, dy = y1 - y0, len = sqrt(dx * dx + dy * dy);
    int n = (int)ceil(len * 2) + 1, i;
    for (i = 0; i <= n; i++) {
        double t = (double)i / n, x = x0 + t * dx, y = y0 + t * dy;
        int xi = (int)lround(x), yi = (int)lround(y);
        if (dash > 0 && ((int)(t * len) / dash) % 2 == 1) continue;
        put(c, xi, yi, rgb);
        if (width > 1) {
            put(c, xi + 1, yi, rgb);
            put(c, xi, yi + 1, rgb);
            put(c, xi + 1, yi + 1, rgb);
        }
    }
}

static void marker(canvas *c, int x, int y, int hollow, const uint8_t rgb[3]) {
    static const uint8_t white[3] = {255, 255, 255};
    fill_rect(c, x - 3, y - 3, x + 3, y + 3, rgb);
    if (hollow) fill_rect(c, x - 1, y - 1, x + 1, y + 1, white);
}

/* "10", "100", ... for 10^0..10^4, else "1e-3" / "1e+5". */
static void decade_label(int e, char *buf, size_t n) {
    if (e >= 0 && e <= 4) {
        long v = 1;
        int i;
        for (i = 0; i < e; i++) v *= 10;
        snprintf(buf, n, "%ld", v);
    } else {
        snprintf(buf, n, "1e%d", e);
    }
}

/* ---- reading the spec ------------------------------------------------------ */
typedef struct series {
    double *x, *y, *ylo, *yhi; /* ylo/yhi: optional error bars (NULL: none) */
    int n;
    char label[64];
    uint8_t rgb[3];
    int dashed;
} series;

#define N_PALETTE 16
static const uint8_t palette[N_PALETTE][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189}, {140, 86, 75},
    {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}, {0, 0, 0}, {0, 0, 140},
    {128, 128, 0}, {0, 110, 110}, {160, 0, 90}, {90, 200, 120}};

static int num_array(lua_State *L, int idx, const char *what, int si, double **out) {
    int n, i;
    if (!lua_istable(L, idx)) return luaL_error(L, "dk.chart_loglog: series %d: '%s' must be an array of numbers", si, what);
    n = (int)lua_rawlen(L, idx);
    *out = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof(double), 0); /* the caller anchors it */
    for (i = 0; i < n; i++) {
        lua_rawgeti(L, idx, i + 1);
        if (!lua_isnumber(L, -1))
            return luaL_error(L, "dk.chart_loglog: series %d: %s[%d] is %s, not a number", si, what, i + 1, luaL_typename(L, -1));
        (*out)[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    return n;
}

static const char *field_str(lua_State *L, int t, const char *k, const char *def) {
    const char *s;
    lua_getfield(L, t, k);
    s = lua_isnil(L, -1) ? def : luaL_checkstring(L, -1);
    lua_pop(L, 1); /* strings from the spec table stay alive while it does */
    return s;
}
static int field_int(lua_State *L, int t, const char *k, int def) {
    int v;
    lua_getfield(L, t, k);
    v = lua_isnil(L, -1) ? def : (int)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    return v;
}

static int l_chart_loglog(lua_State *L) {
    static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0}, grid[3] = {215, 215, 215},
                         minor[3] = {238, 238, 238};
    const char *path, *title, *xlabel, *ylabel;
    int W, H, ns, i, j, left, right, top, bottom, legend_w = 0, e;
    double lx0 = INFINITY, lx1 = -INFINITY, ly0 = INFINITY, ly1 = -INFINITY;
    series *S;
    canvas c;
    dk_error err;
    dk_status st;
    char buf[32];
    const int FS = 2, CH = GLYPH_H * 2; /* font scale, character height */

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    path = field_str(L, 1, "path", NULL);
    if (!path) return luaL_error(L, "dk.chart_loglog: 'path' (the PNG to write) is required");
    title = field_str(L, 1, "title", "");
    xlabel = field_str(L, 1, "xlabel", "");
    ylabel = field_str(L, 1, "ylabel", "");
    W = field_int(L, 1, "width", 1200);
    H = field_int(L, 1, "height", 800);
    if (W < 200 || H < 150 || W > 8000 || H > 8000)
        return luaL_error(L, "dk.chart_loglog: size %dx%d is outside 200x150 .. 8000x8000", W, H);
    lua_getfield(L, 1, "series"); /* 2 */
    if (!lua_istable(L, 2)) return luaL_error(L, "dk.chart_loglog: 'series' must be an array of {label =, x =, y =}");
    ns = (int)lua_rawlen(L, 2);
    if (ns < 1) return luaL_error(L, "dk.chart_loglog: 'series' is empty");
    S = lua_newuserdatauv(L, (size_t)ns * sizeof *S, 0); /* 3 */
    memset(S, 0, (size_t)ns * sizeof *S);
    /* 4: keeps each series' x and y arrays (userdata) alive. The stack is
     * reset after every series: a C function may only use LUA_MINSTACK (20)
     * slots without lua_checkstack, and pushes past the Lua stack silently
     * corrupt the heap (Debian's liblua5.4 has no API checks). */
    lua_createtable(L, 4 * ns, 0);
    for (i = 0; i < ns; i++) {
        int top_before, nx, ny;
        lua_settop(L, 4);
        lua_rawgeti(L, 2, i + 1);
        if (!lua_istable(L, -1)) return luaL_error(L, "dk.chart_loglog: series %d is not a table", i + 1);
        top_before = lua_gettop(L);
        snprintf(S[i].label, sizeof S[i].label, "%s", field_str(L, top_before, "label", ""));
        lua_getfield(L, top_before, "x");
        nx = num_array(L, lua_gettop(L), "x", i + 1, &S[i].x);
        lua_rawseti(L, 4, 2 * (lua_Integer)i + 1);
        lua_pop(L, 1);
        lua_getfield(L, top_before, "y");
        ny = num_array(L, lua_gettop(L), "y", i + 1, &S[i].y);
        lua_rawseti(L, 4, 2 * (lua_Integer)i + 2);
        lua_pop(L, 1);
        if (nx != ny) return luaL_error(L, "dk.chart_loglog: series %d ('%s'): x has %d values, y has %d", i + 1, S[i].label, nx, ny);
        S[i].n = nx;
        lua_getfield(L, top_before, "ylo");
        if (!lua_isnil(L, -1)) {
            int nl = num_array(L, lua_gettop(L), "ylo", i + 1, &S[i].ylo);
            lua_rawseti(L, 4, 2 * (lua_Integer)ns + 2 * (lua_Integer)i + 1);
            lua_getfield(L, top_before, "yhi");
            int nh = num_array(L, lua_gettop(L), "yhi", i + 1, &S[i].yhi);
            lua_rawseti(L, 4, 2 * (lua_Integer)ns + 2 * (lua_Integer)i + 2);
            lua_pop(L, 1);
            if (nl != nx || nh != nx)
                return luaL_error(L, "dk.chart_loglog: series %d ('%s'): ylo/yhi need %d values each", i + 1, S[i].label, nx);
        }
        lua_pop(L, 1);
        memcpy(S[i].rgb, palette[i % N_PALETTE], 3);
        lua_getfield(L, top_before, "color");
        if (lua_istable(L, -1)) {
            for (j = 0; j < 3; j++) {
                lua_rawgeti(L, -1, j + 1);
                S[i].rgb[j] = (uint8_t)fmin(255, fmax(0, luaL_checknumber(L, -1)));
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
        lua_getfield(L, top_before, "dashed");
        S[i].dashed = lua_toboolean(L, -1);
        lua_pop(L, 1);
        /* the arrays' userdata stay referenced from the table at 4 */
        for (j = 0; j < S[i].n; j++) {
            double x = S[i].x[j], y = S[i].y[j];
            if (!(x > 0) || !(y > 0) || !isfinite(x) || !isfinite(y)) continue;
            lx0 = fmin(lx0, log10(x));
            lx1 = fmax(lx1, log10(x));
            ly0 = fmin(ly0, log10(y));
            ly1 = fmax(ly1, log10(y));
            if (S[i].ylo && S[i].ylo[j] > 0 && isfinite(S[i].ylo[j])) ly0 = fmin(ly0, log10(S[i].ylo[j]));
            if (S[i].yhi && S[i].yhi[j] > 0 && isfinite(S[i].yhi[j])) ly1 = fmax(ly1, log10(S[i].yhi[j]));
        }
        j = text_width(S[i].label, FS);
        if (j > legend_w) legend_w = j;
    }
    lua_settop(L, 4);
    if (!isfinite(lx0) || !isfinite(ly0)) return luaL_error(L, "dk.chart_loglog: no point has x > 0 and y > 0");
    lx0 = floor(lx0);
    lx1 = ceil(lx1);
    ly0 = floor(ly0);
    ly1 = ceil(ly1);
    if (lx1 <= lx0) lx1 = lx0 + 1;
    if (ly1 <= ly0) ly1 = ly0 + 1;

    left = 20 + text_width("1e-10", FS) + 12;
    top = 20 + (title[0] ? CH + 14 : 0) + (ylabel[0] ? CH + 10 : 0);
    bottom = H - (20 + CH + 12 + (xlabel[0] ? CH + 12 : 0));
    right = W - (legend_w + 40 + 36 + 16);
    if (right - left < 100 || bottom - top < 80) return luaL_error(L, "dk.chart_loglog: %dx%d is too small for the labels", W, H);

    c.w = W;
    c.h = H;
    c.px = lua_newuserdatauv(L, (size_t)W * (size_t)H * 3, 0);
    c.cx0 = 0, c.cy0 = 0, c.cx1 = W - 1, c.cy1 = H - 1;
    memset(c.px, 255, (size_t)W * (size_t)H * 3);

#define PX(lx) (left + ((lx) - lx0) / (lx1 - lx0) * (right - left))
#define PY(ly) (bottom - ((ly) - ly0) / (ly1 - ly0) * (bottom - top))
    /* grid: minor lines at 2..9, major at decades, with labels */
    for (e = (int)lx0; e <= (int)lx1; e++) {
        int k;
        for (k = 2; k <= 9 && e < (int)lx1; k++) line(&c, PX(e + log10(k)), top, PX(e + log10(k)), bottom, 1, 0, minor);
        line(&c, PX(e), top, PX(e), bottom, 1, 0, grid);
        decade_label(e, buf, sizeof buf);
        text(&c, (int)PX(e) - text_width(buf, FS) / 2, bottom + 10, buf, FS, black);
    }
    for (e = (int)ly0; e <= (int)ly1; e++) {
        int k;
        for (k = 2; k <= 9 && e < (int)ly1 && ly1 - ly0 <= 8; k++) line(&c, left, PY(e + log10(k)), right, PY(e + log10(k)), 1, 0, minor);
        line(&c, left, PY(e), right, PY(e), 1, 0, grid);
        decade_label(e, buf, sizeof buf);
        text(&c, left - 8 - text_width(buf, FS), (int)PY(e) - CH / 2, buf, FS, black);
    }
    /* frame */
    line(&c, left, top, right, top, 1, 0, black);
    line(&c, left, bottom, right, bottom, 1, 0, black);
    line(&c, left, top, left, bottom, 1, 0, black);
    line(&c, right, top, right, bottom, 1, 0, black);
    /* titles */
    if (title[0]) text(&c, (left + right) / 2 - text_width(title, FS) / 2, 16, title, FS, black);
    if (ylabel[0]) text(&c, 20, top - CH - 10, ylabel, FS, black);
    if (xlabel[0]) text(&c, (left + right) / 2 - text_width(xlabel, FS) / 2, bottom + 10 + CH + 12, xlabel, FS, black);

    /* series, clipped to the plot */
    c.cx0 = left, c.cy0 = top, c.cx1 = right, c.cy1 = bottom;
    for (i = 0; i < ns; i++) {
        double px = 0, py = 0;
        int have = 0;
        for (j = 0; j < S[i].n; j++) {
            double x = S[i].x[j], y = S[i].y[j], qx, qy;
            if (!(x > 0) || !(y > 0) || !isfinite(x) || !isfinite(y)) {
                have = 0;
                continue;
            }
            qx = PX(log10(x));
            qy = PY(log10(y));
            if (S[i].ylo && S[i].yhi && S[i].ylo[j] > 0 && S[i].yhi[j] >= S[i].ylo[j] && isfinite(S[i].yhi[j])) {
                double y0 = PY(log10(S[i].ylo[j])), y1 = PY(log10(S[i].yhi[j]));
                line(&c, qx, y0, qx, y1, 1, 0, S[i].rgb);
                line(&c, qx - 5, y0, qx + 5, y0, 1, 0, S[i].rgb);
                line(&c, qx - 5, y1, qx + 5, y1, 1, 0, S[i].rgb);
            }
            if (have) line(&c, px, py, qx, qy, 2, S[i].dashed ? 6 : 0, S[i].rgb);
            marker(&c, (int)lround(qx), (int)lround(qy), S[i].dashed, S[i].rgb);
            px = qx, py = qy, have = 1;
        }
    }
    c.cx0 = 0, c.cy0 = 0, c.cx1 = W - 1, c.cy1 = H - 1;
    /* legend: to the right of the plot, one row per series */
    {
        int lx = right + 16, ly = top, row = CH + 8;
        fill_rect(&c, lx - 6, ly - 6, W - 8, ly + ns * row + 2, white);
        for (i = 0; i < ns; i++) {
            int y = ly + i * row + CH / 2;
            line(&c, lx, y, lx + 30, y, 2, S[i].dashed ? 6 : 0, S[i].rgb);
            marker(&c, lx + 15, y, S[i].dashed, S[i].rgb);
            text(&c, lx + 40, ly + i * row, S[i].label, FS, black);
        }
    }
#undef PX
#undef PY
    st = dk_image_write_png(path, c.px, W, H, 3, &err);
    if (st != DK_OK) return dkl_error(L, &err);
    lua_pushstring(L, path);
    return 1;
}

static const luaL_Reg funcs[] = {{"chart_loglog", l_chart_loglog}, {NULL, NULL}};

static int open_chart(lua_State *L) {
    luaL_setfuncs(L, funcs, 0);
    return 0;
}
DKL_PART(chart, open_chart)
