/* Edge cases of the strict JSON parser (src/io/json.h). Prints "ok name" / "FAIL name" per case. */
#include "io/json.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_pass, g_fail;

static void check(int ok, const char *name, const char *detail) {
    if (ok) {
        g_pass++;
        printf("ok %s\n", name);
    } else {
        g_fail++;
        printf("FAIL %s%s%s\n", name, detail ? ": " : "", detail ? detail : "");
    }
}

/* Parses exactly n bytes from a heap copy (so ASan catches reads past n). */
static ddpm_status parse_n(const char *text, size_t n, ddpm_json **doc, ddpm_error *err) {
    char *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, text, n);
    ddpm_status st = ddpm_json_parse(copy, n, doc, err);
    free(copy); /* the tree must not point into the input */
    return st;
}

static void expect_status(const char *name, const char *text, ddpm_status expected) {
    ddpm_json *doc = NULL;
    ddpm_error err;
    ddpm_status st = parse_n(text, strlen(text), &doc, &err);
    char detail[400];
    snprintf(detail, sizeof detail, "got %s (%s)", ddpm_status_str(st), st ? err.message : "");
    int ok = st == expected && (st == DDPM_OK) == (doc != NULL) && err.status == st;
    if (ok && st != DDPM_OK) ok = err.message[0] && !strchr(err.message, '\n');
    check(ok, name, detail);
    ddpm_json_free(doc);
}

#define BAD(name, text) expect_status("reject_" name, text, DDPM_ERR_FORMAT)
#define GOOD(name, text) expect_status("accept_" name, text, DDPM_OK)

static const ddpm_json_value *parse_ok(const char *text, size_t n, ddpm_json **doc) {
    ddpm_error err;
    if (parse_n(text, n, doc, &err) != DDPM_OK) {
        printf("    (parse failed: %s)\n", err.message);
        return NULL;
    }
    return ddpm_json_root(*doc);
}

static void test_syntax(void) {
    GOOD("int", "1");
    GOOD("true_ws", " \t\r\ntrue \n");
    GOOD("null", "null");
    GOOD("empty_object", "{}");
    GOOD("empty_array_ws", "[ ]");
    GOOD("nested", "{\"a\":[1,{\"b\":[[],{}]},\"c\"],\"d\":{\"e\":null}}");
    GOOD("numbers", "[0,-0,1e3,-1.5E-2,1E+2,0.5,123456789012345678,-9223372036854775808,9223372036854775807]");
    GOOD("escapes", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\"");
    GOOD("utf8", "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
    GOOD("depth_16",
         "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]");
    GOOD("same_key_different_objects", "{\"a\":{\"a\":1},\"b\":{\"a\":2}}");

    BAD("empty", "");
    BAD("only_ws", "  ");
    BAD("leading_zero", "01");
    BAD("leading_zero_neg", "-01");
    BAD("dot_no_digits", "1.");
    BAD("leading_dot", ".5");
    BAD("plus", "+1");
    BAD("minus_alone", "-");
    BAD("exp_no_digits", "1e");
    BAD("exp_sign_no_digits", "1e+");
    BAD("hex", "0x10");
    BAD("nan", "NaN");
    BAD("infinity", "-Infinity");
    BAD("int_overflow", "9223372036854775808");
    BAD("int_underflow", "-9223372036854775809");
    BAD("double_overflow", "1e999");
    BAD("truncated_true", "tru");
    BAD("truncated_null", "nul");
    BAD("capital_true", "True");
    BAD("trailing_comma_array", "[1,]");
    BAD("trailing_comma_object", "{\"a\":1,}");
    BAD("leading_comma", "[,1]");
    BAD("missing_comma", "[1 2]");
    BAD("missing_colon", "{\"a\" 1}");
    BAD("non_string_key", "{1:2}");
    BAD("single_quotes", "['a']");
    BAD("unclosed_array", "[1,2");
    BAD("unclosed_object", "{\"a\":1");
    BAD("mismatched_brackets", "[1}");
    BAD("unterminated_string", "\"abc");
    BAD("unterminated_after_backslash", "\"abc\\");
    BAD("bad_escape", "\"\\x\"");
    BAD("short_unicode_escape", "\"\\u12\"");
    BAD("bad_hex", "\"\\u12G4\"");
    BAD("lone_high_surrogate", "\"\\ud800\"");
    BAD("lone_low_surrogate", "\"\\udc00\"");
    BAD("high_then_non_low", "\"\\ud800\\u0041\"");
    BAD("high_then_text", "\"\\ud800abcdef\"");
    BAD("raw_control_char", "\"a\x01b\"");
    BAD("raw_newline", "\"a\nb\"");
    BAD("escaped_control_byte", "\"\\\x01\"");
    BAD("overlong_2", "\"\xC0\x80\"");
    BAD("overlong_3", "\"\xE0\x80\xAF\"");
    BAD("utf8_surrogate", "\"\xED\xA0\x80\"");
    BAD("utf8_above_10ffff", "\"\xF4\x90\x80\x80\"");
    BAD("utf8_f5", "\"\xF5\x80\x80\x80\"");
    BAD("utf8_truncated", "\"\xE2\x82\"");
    BAD("utf8_lone_continuation", "\"\x80\"");
    BAD("bom", "\xEF\xBB\xBF{}");
    BAD("trailing_value", "1 2");
    BAD("trailing_garbage", "{}x");
    BAD("two_objects", "{}{}");
    BAD("comment", "[1] // c");
    BAD("duplicate_key", "{\"a\":1,\"b\":2,\"a\":3}");
    BAD("duplicate_key_nested", "{\"x\":{\"k\":1,\"k\":1}}");
    BAD("duplicate_key_after_escape", "{\"a\":1,\"\\u0061\":2}");
    BAD("nul_in_key", "{\"a\\u0000b\":1}");
    BAD("depth_17", "[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]");
    BAD("object_depth_17",
        "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
        "{\"a\":1}}}}}}}}}}}}}}}}}}");
    BAD("vertical_tab_ws", "\v1");

    /* Embedded NUL byte outside a string. */
    {
        ddpm_json *doc = NULL;
        ddpm_error err;
        check(parse_n("[1,\0 2]", 7, &doc, &err) == DDPM_ERR_FORMAT && !doc, "reject_nul_byte", err.message);
    }
    /* Not NUL-terminated: only len bytes count. */
    {
        ddpm_json *doc = NULL;
        const ddpm_json_value *v = parse_ok("[1]]]]", 3, &doc);
        check(v && v->type == DDPM_JSON_ARRAY && v->length == 1, "len_bounds_input", NULL);
        ddpm_json_free(doc);
    }
    /* Very deep input does not recurse or crash. */
    {
        size_t n = 200000;
        char *deep = malloc(n);
        memset(deep, '[', n);
        ddpm_json *doc = NULL;
        ddpm_error err;
        check(ddpm_json_parse(deep, n, &doc, &err) == DDPM_ERR_FORMAT && strstr(err.message, "nesting"),
              "reject_very_deep", err.message);
        free(deep);
    }
    /* Value limit: "[1,2,3]" holds 4 values. */
    {
        ddpm_json *doc = NULL;
        ddpm_error err;
        int ok = ddpm_json_parse_limited("[1,2,3]", 7, 4, &doc, &err) == DDPM_OK && doc;
        ddpm_json_free(doc);
        doc = NULL;
        ok = ok && ddpm_json_parse_limited("[1,2,3]", 7, 3, &doc, &err) == DDPM_ERR_TOO_LARGE && !doc &&
             strstr(err.message, "values");
        ok = ok && ddpm_json_parse_limited("{\"a\":{}}", 8, 1, &doc, &err) == DDPM_ERR_TOO_LARGE && !doc;
        check(ok, "value_limit", err.message);
    }
    /* NULL arguments */
    {
        ddpm_json *doc = NULL;
        ddpm_error err;
        check(ddpm_json_parse(NULL, 3, &doc, &err) == DDPM_ERR_INVALID_ARGUMENT &&
                  ddpm_json_parse("1", 1, NULL, NULL) == DDPM_ERR_INVALID_ARGUMENT,
              "null_arguments", NULL);
        ddpm_json_free(NULL);
    }
}

static void test_values(void) {
    ddpm_json *doc = NULL;
    const char *text = "{\"s\":\"\\u00e9\\ud83d\\ude00\\n\",\"z\":\"a\\u0000b\",\"i\":-42,\"big\":-9223372036854775808,"
                       "\"d\":-1.5e-3,\"t\":true,\"f\":false,\"n\":null,\"arr\":[3,[4],{}],\"e\":\"\",\"\":1}";
    const ddpm_json_value *root = parse_ok(text, strlen(text), &doc);
    int ok = root && root->type == DDPM_JSON_OBJECT && root->length == 11;
    const ddpm_json_value *v;
    v = ddpm_json_object_get(root, "s");
    ok = ok && v && v->type == DDPM_JSON_STRING && v->length == 7 &&
         memcmp(v->string, "\xC3\xA9\xF0\x9F\x98\x80\n", 8) == 0;
    check(ok, "string_escapes_decoded", NULL);
    v = ddpm_json_object_get(root, "z");
    check(v && v->length == 3 && v->string[1] == '\0' && v->string[2] == 'b', "value_string_keeps_nul", NULL);
    v = ddpm_json_object_get(root, "i");
    check(v && v->type == DDPM_JSON_INT && v->integer == -42 && v->number == -42.0, "int_value", NULL);
    v = ddpm_json_object_get(root, "big");
    check(v && v->type == DDPM_JSON_INT && v->integer == INT64_MIN, "int64_min", NULL);
    v = ddpm_json_object_get(root, "d");
    check(v && v->type == DDPM_JSON_NUMBER && v->number == -1.5e-3, "double_value", NULL);
    v = ddpm_json_object_get(root, "t");
    const ddpm_json_value *f = ddpm_json_object_get(root, "f"), *n = ddpm_json_object_get(root, "n");
    check(v && v->type == DDPM_JSON_BOOL && v->boolean == 1 && f && f->type == DDPM_JSON_BOOL && f->boolean == 0 && n &&
              n->type == DDPM_JSON_NULL,
          "literals", NULL);
    v = ddpm_json_object_get(root, "arr");
    check(v && v->type == DDPM_JSON_ARRAY && v->length == 3 && v->items[0].integer == 3 &&
              v->items[1].type == DDPM_JSON_ARRAY && v->items[1].items[0].integer == 4 &&
              v->items[2].type == DDPM_JSON_OBJECT && v->items[2].length == 0,
          "array_items", NULL);
    v = ddpm_json_object_get(root, "");
    check(v && v->integer == 1 && ddpm_json_object_get(root, "e") && ddpm_json_object_get(root, "e")->length == 0,
          "empty_key_and_string", NULL);
    check(!ddpm_json_object_get(root, "missing") && !ddpm_json_object_get(root, "s2") &&
              !ddpm_json_object_get(ddpm_json_object_get(root, "i"), "x"),
          "missing_key", NULL);
    /* document order is kept */
    check(root && strcmp(root->members[0].key, "s") == 0 && strcmp(root->members[10].key, "") == 0 &&
              strcmp(root->members[8].key, "arr") == 0,
          "member_order", NULL);
    ddpm_json_free(doc);
}

static void test_large(void) {
    /* A wide array (arena growth) */
    size_t count = 300000;
    char *buf = malloc(count * 2 + 2);
    size_t k = 0;
    buf[k++] = '[';
    for (size_t i = 0; i < count; i++) {
        buf[k++] = (char)('0' + i % 10);
        buf[k++] = ',';
    }
    buf[k - 1] = ']';
    ddpm_json *doc = NULL;
    const ddpm_json_value *v = parse_ok(buf, k, &doc);
    check(v && v->length == count && v->items[count - 1].integer == (int64_t)((count - 1) % 10), "wide_array", NULL);
    ddpm_json_free(doc);
    free(buf);

    /* An object with many keys, looked up by binary search; a duplicate at the end is found. */
    size_t nkeys = 20000;
    buf = malloc(nkeys * 24 + 64);
    k = 0;
    buf[k++] = '{';
    for (size_t i = 0; i < nkeys; i++) k += (size_t)sprintf(buf + k, "%s\"key%zu\":%zu", i ? "," : "", i * 7919 % nkeys, i);
    buf[k++] = '}';
    v = parse_ok(buf, k, &doc);
    int ok = v && v->length == nkeys;
    for (size_t i = 0; ok && i < nkeys; i += 97) {
        char key[32];
        sprintf(key, "key%zu", i * 7919 % nkeys);
        const ddpm_json_value *x = ddpm_json_object_get(v, key);
        ok = x && x->integer == (int64_t)i;
    }
    check(ok, "many_keys_lookup", NULL);
    ddpm_json_free(doc);
    buf[k - 1] = ',';
    k += (size_t)sprintf(buf + k, "\"key0\":1}");
    ddpm_error err;
    check(parse_n(buf, k, &doc, &err) == DDPM_ERR_FORMAT && strstr(err.message, "duplicate key \"key0\""),
          "many_keys_duplicate", err.message);
    free(buf);
}

static void test_number_text(void) {
    double d = 0;
    int ok = ddpm_json_number_from_text("0.0001", 6, &d) && d == 0.0001;
    ok = ok && ddpm_json_number_from_text("1e-4", 4, &d) && d == 1e-4;
    ok = ok && ddpm_json_number_from_text("0.02", 4, &d) && d == 0.02;
    ok = ok && ddpm_json_number_from_text("-3", 2, &d) && d == -3.0;
    ok = ok && ddpm_json_number_from_text("0.1234", 3, &d) && d == 0.1; /* only len bytes */
    ok = ok && !ddpm_json_number_from_text("", 0, &d) && !ddpm_json_number_from_text("abc", 3, &d) &&
         !ddpm_json_number_from_text(" 1", 2, &d) && !ddpm_json_number_from_text("1 ", 2, &d) &&
         !ddpm_json_number_from_text("1e400", 5, &d) && !ddpm_json_number_from_text("inf", 3, &d) &&
         !ddpm_json_number_from_text("0x1p3", 5, &d) && !ddpm_json_number_from_text(NULL, 1, &d);
    check(ok, "number_from_text", NULL);
    /* A long number (longer than the on-stack buffer) */
    char longnum[400] = "0.";
    for (int i = 0; i < 300; i++) strcat(longnum, "0");
    strcat(longnum, "15");
    ok = ddpm_json_number_from_text(longnum, strlen(longnum), &d) && d == 1.5e-301;
    check(ok, "number_from_text_long", NULL);
    /* Independent of the C locale (if a comma-decimal locale is installed). */
    const char *locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", NULL};
    const char *used = NULL;
    for (int i = 0; locales[i] && !used; i++)
        if (setlocale(LC_NUMERIC, locales[i])) used = locales[i];
    if (used) {
        ok = ddpm_json_number_from_text("0.0001", 6, &d) && d == 0.0001;
        ddpm_json *doc = NULL;
        const ddpm_json_value *v = parse_ok("[2.5]", 5, &doc);
        ok = ok && v && v->items[0].number == 2.5;
        ddpm_json_free(doc);
        setlocale(LC_NUMERIC, "C");
        check(ok, "number_locale_independent", used);
    } else {
        printf("ok number_locale_independent (skipped: no comma-decimal locale)\n");
        g_pass++;
    }
}

int main(void) {
    test_syntax();
    test_values();
    test_large();
    test_number_text();
    printf("test_json: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
