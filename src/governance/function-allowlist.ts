/**
 * Every function a governed query may call, and why each other function of the bundled DuckDB is
 * refused. This file is the whole surface: a name that is on neither list is refused as "not
 * reviewed", so a DuckDB upgrade cannot add a callable function without someone reading it here
 * (test/governance/allowlist.test.ts enumerates duckdb_functions() and fails on any name that is
 * neither allowed nor refused with a reason).
 *
 * What "allowed" means: the function computes only from its arguments (plus the clock or a random
 * source) and reads nothing else — no file, network, setting, variable, catalog, statistics,
 * plan or query text — and changes nothing. Aggregates and window functions see only the rows of
 * the governed subqueries, so every aggregate that exists is allowed.
 *
 * Names compare case-insensitively (DuckDB's own lookup does).
 */
import { isJsonObject, type LosslessObject } from './lossless-json.js';
import { isQualifiedFunction } from './sql-rules.js';

/** How a function may be used once allowed. */
export type FunctionCategory =
  /** Row by row, anywhere an expression goes (also in row filters and masks). */
  | 'scalar'
  /** In a SELECT list, HAVING, QUALIFY or ORDER BY, with or without OVER. */
  | 'aggregate'
  /** Only with OVER (...). */
  | 'window'
  /** A table function in FROM that produces values from its arguments alone. */
  | 'generator'
  /** A scalar-looking call that returns rows (unnest): fine in a query, never in a policy. */
  | 'set_returning'
  /** current_principal() and is_member(): replaced by constants before anything runs. */
  | 'policy';

/** Why a function is refused. */
export type RefusalCategory =
  | 'introspection'
  | 'file_or_network'
  | 'sleep'
  | 'side_effect'
  | 'sql_as_text'
  | 'pragma'
  | 'internal'
  | 'unknown';

export interface Refusal {
  category: RefusalCategory;
  /** Completes "function f() is not allowed: …". */
  why: string;
  /** What to do instead, when there is something to do. */
  instead?: string;
}

/** Where a call appears: decides which categories fit. */
export type FunctionUse =
  /** A FUNCTION expression of a query (scalar or aggregate). */
  | 'query'
  /** A WINDOW expression (a call with OVER). */
  | 'window'
  /** A TABLE_FUNCTION reference in FROM. */
  | 'table'
  /** A FUNCTION expression in a row filter or mask. */
  | 'policy';

const FITS: Record<FunctionUse, readonly FunctionCategory[]> = {
  query: ['scalar', 'aggregate', 'set_returning', 'policy'],
  window: ['aggregate', 'window'],
  table: ['generator'],
  policy: ['scalar', 'policy'],
};

const allowed = new Map<string, Set<FunctionCategory>>();
const refused = new Map<string, Refusal>();

function words(names: string): string[] {
  return names.split(/\s+/).filter((n) => n !== '');
}

function allow(category: FunctionCategory, names: string | readonly string[]): void {
  for (const name of typeof names === 'string' ? words(names) : names) {
    const key = name.toLowerCase();
    const set = allowed.get(key) ?? new Set<FunctionCategory>();
    set.add(category);
    allowed.set(key, set);
  }
}

function refuse(refusal: Refusal, names: string): void {
  for (const name of words(names)) {
    const key = name.toLowerCase();
    if (refused.has(key)) throw new Error(`function-allowlist: ${key} is refused twice`);
    refused.set(key, refusal);
  }
}

// ───────────────────────────── allowed: scalar ─────────────────────────────

// Operators, as the parser names them: arithmetic, bitwise, comparison helpers, LIKE (~~), ILIKE
// (~~*), GLOB (~~~), starts-with (^@), list/JSON operators (@>, <@, &&, ->>, <->, <=>), factorial.
allow(
  'scalar',
  `!__postfix !~~ !~~* % & && * ** + - ->> / // <-> << <=> <@ >> @ @> ^ ^@ | || ~ ~~ ~~* ~~~
   add subtract multiply divide mod xor
   like_escape not_like_escape ilike_escape not_ilike_escape`,
);

// Numbers.
allow(
  'scalar',
  `abs acos acosh asin asinh atan atan2 atanh cbrt ceil ceiling cos cosh cot degrees even exp
   factorial fdiv floor fmod gamma gcd greatest greatest_common_divisor isfinite isinf isnan lcm
   least least_common_multiple lgamma ln log log10 log2 nextafter pi pow power radians round
   round_even roundbankers sign signbit sin sinh sqrt tan tanh trunc
   bit_count get_bit set_bit bit_position bitstring`,
);

// Random values: volatile, but they read nothing (setseed is refused below: it changes state).
allow('scalar', 'random uuid gen_random_uuid uuidv4 uuidv7 uuid_extract_timestamp uuid_extract_version');

// Text. parse_path and friends split a string that looks like a path; they touch no file.
allow(
  'scalar',
  `ascii bar base64 bin bit_length char_length character_length chr concat concat_ws contains
   damerau_levenshtein decode editdist3 encode ends_with format format_bytes
   formatReadableDecimalSize formatReadableSize from_base64 from_binary from_hex hamming hex instr
   jaccard jaro_similarity jaro_winkler_similarity lcase left left_grapheme len length
   length_grapheme levenshtein lower lpad ltrim mismatches nfc_normalize octet_length ord
   parse_dirname parse_dirpath parse_filename parse_formatted_bytes parse_path pg_size_pretty
   position prefix printf repeat replace reverse right right_grapheme rpad rtrim split split_part
   starts_with str_split string_split string_to_array strip_accents strlen strpos substr substring
   substring_grapheme suffix to_base to_base64 to_binary to_hex translate trim ucase unbin unhex
   unicode upper url_decode url_encode array_to_string array_to_string_comma_default`,
);

// Regular expressions (RE2: linear time, no catastrophic backtracking).
allow(
  'scalar',
  `regexp_escape regexp_extract regexp_extract_all regexp_full_match regexp_matches regexp_replace
   regexp_split_to_array str_split_regex string_split_regex`,
);

// Hashes and sort keys.
allow(
  'scalar',
  'hash md5 md5_number md5_number_lower md5_number_upper sha1 sha256 create_sort_key icu_sort_key',
);

// Collations (COLLATE de, or icu_collate_de(x)): ICU sort keys, one function per locale.
allow(
  'scalar',
  `af am ar ar_sa as az be bg bn bo br bs ca ceb chr cs cy da de de_at dsb dz ee el en en_us eo es
   et fa fa_af ff fi fil fo fr fr_ca ga gl gu ha haw he he_il hi hr hsb hu hy id id_id ig is it ja
   ka kk kl km kn ko kok ku ky lb lkt ln lo lt lv mk ml mn mr ms mt my nb nb_no ne nl nn noaccent
   om or pa pa_in pl ps pt ro ru sa se si sk sl smn sq sr sr_ba sr_me sr_rs sv sw ta te th tk to
   tr ug uk ur uz vi wae wo xh yi yo yue yue_cn zh zh_cn zh_hk zh_mo zh_sg zh_tw zu`
    .split(/\s+/)
    .filter((l) => l !== '')
    .map((locale) => `icu_collate_${locale}`),
);

// Dates, times, intervals. The clock functions reveal only the time, which is no secret.
allow(
  'scalar',
  `age ago century current_date current_localtime current_localtimestamp date_add date_diff
   date_part date_sub date_trunc datediff datepart datesub datetrunc day dayname dayofmonth
   dayofweek dayofyear days_in_month decade epoch epoch_ms epoch_ns epoch_us era
   get_current_time get_current_timestamp hour isodow isoyear julian last_day make_date make_time
   make_timestamp make_timestamp_ms make_timestamp_ns make_timestamptz microsecond millennium
   millisecond minute month monthname nanosecond normalized_interval now quarter second strftime
   strptime time_bucket timetz_byte_comparable timezone timezone_hour timezone_minute to_centuries
   to_days to_decades to_hours to_microseconds to_millennia to_milliseconds to_minutes to_months
   to_quarters to_seconds to_timestamp to_weeks to_years today transaction_timestamp try_strptime
   week weekday weekofyear year yearweek`,
);

// Lists and arrays (lambdas inside are walked like any expression). list_aggregate and its
// aliases name an aggregate as text: functionCallProblem checks that name against this file.
allow(
  'scalar',
  `aggregate apply array_aggr array_aggregate array_append array_apply array_cat array_concat
   array_contains array_cosine_distance array_cosine_similarity array_cross_product array_distance
   array_distinct array_dot_product array_extract array_filter array_grade_up array_has
   array_has_all array_has_any array_indexof array_inner_product array_intersect array_length
   array_negative_dot_product array_negative_inner_product array_pop_back array_pop_front
   array_position array_prepend array_push_back array_push_front array_reduce array_resize
   array_reverse array_reverse_sort array_select array_slice array_sort array_transform
   array_unique array_value array_where array_zip cardinality element_at filter flatten grade_up
   list_aggr list_aggregate list_any_value list_append list_apply list_approx_count_distinct
   list_avg list_bit_and list_bit_or list_bit_xor list_bool_and list_bool_or list_cat list_concat
   list_contains list_cosine_distance list_cosine_similarity list_count list_distance
   list_distinct list_dot_product list_element list_entropy list_extract list_filter list_first
   list_grade_up list_has list_has_all list_has_any list_histogram list_indexof
   list_inner_product list_intersect list_kurtosis list_kurtosis_pop list_last list_mad list_max
   list_median list_min list_mode list_negative_dot_product list_negative_inner_product list_pack
   list_position list_prepend list_product list_reduce list_resize list_reverse list_reverse_sort
   list_select list_sem list_skewness list_slice list_sort list_stddev_pop list_stddev_samp
   list_string_agg list_sum list_transform list_unique list_value list_var_pop list_var_samp
   list_where list_zip reduce unpivot_list generate_series range`,
);

// Structs, maps, unions, enums (struct_pack / list_value / map / row are also what the parser
// writes for {...}, [...], MAP {...} and (a, b)).
allow(
  'scalar',
  `map map_concat map_contains map_contains_entry map_contains_value map_entries map_extract
   map_extract_value map_from_entries map_keys map_values row struct_concat struct_contains
   struct_extract struct_extract_at struct_has struct_indexof struct_insert struct_keys
   struct_pack struct_position struct_update struct_values union_extract union_tag union_value
   enum_code enum_first enum_last enum_range enum_range_boundary`,
);

// JSON computed from values (json_serialize_sql and friends are refused below: they take SQL).
allow(
  'scalar',
  `array_to_json from_json from_json_strict json json_array json_array_length json_contains
   json_exists json_extract json_extract_path json_extract_path_text json_extract_string json_keys
   json_merge_patch json_object json_pretty json_quote json_structure json_transform
   json_transform_strict json_type json_valid json_value row_to_json to_json`,
);

// VARIANT values and geometries: pure conversions and accessors.
allow('scalar', 'variant_extract variant_normalize variant_typeof');
allow(
  'scalar',
  'st_asbinary st_astext st_aswkb st_aswkt st_crs st_geomfromwkb st_intersects_extent st_setcrs',
);

// Types, casts, conditionals. typeof/get_type/alias describe an expression, not data; switch and
// nullif are CASE in disguise; constant_or_null is NULL propagation.
allow(
  'scalar',
  `alias can_cast_implicitly cast_to_type constant_or_null get_type make_type nullif pg_typeof
   remap_struct replace_type switch typeof`,
);

// Histogram helpers (what histogram() and bar charts use).
allow('scalar', 'equi_width_bins is_histogram_other_bin');

// error(msg) raises msg like a failed cast would: it runs only on rows the filter kept (the
// governed subquery ends in an optimisation barrier), and execution errors reach the caller only
// as a generic message with an error id.
allow('scalar', 'error');

// ─────────────────────────── allowed: set-returning ───────────────────────────

// unnest/unlist as an expression: special forms of the binder (not in duckdb_functions() as
// scalars). The two macros expand to unnest.
allow('set_returning', 'unnest unlist generate_subscripts regexp_split_to_table');

// ───────────────────────────── allowed: policy ─────────────────────────────

allow('policy', 'current_principal is_member');

// ───────────────────────────── allowed: aggregates ─────────────────────────────

// Every aggregate DuckDB ships: each sees only the rows of the governed subqueries.
allow(
  'aggregate',
  `any_value approx_count_distinct approx_quantile approx_top_k arbitrary arg_max arg_max_null
   arg_max_nulls_last arg_min arg_min_null arg_min_nulls_last argmax argmin array_agg avg bit_and
   bit_or bit_xor bitstring_agg bool_and bool_or corr count count_if count_star countif covar_pop
   covar_samp entropy favg first fsum group_concat histogram histogram_exact kahan_sum kurtosis
   kurtosis_pop last list listagg mad max max_by mean median min min_by mode product quantile
   quantile_cont quantile_disc regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope
   regr_sxx regr_sxy regr_syy reservoir_quantile sem skewness stddev stddev_pop stddev_samp
   string_agg sum sum_no_overflow sumkahan var_pop var_samp variance
   geomean geometric_mean json_group_array json_group_object json_group_structure wavg
   weighted_avg`,
);

// ───────────────────────────── allowed: window ─────────────────────────────

allow(
  'window',
  `cume_dist dense_rank fill first_value lag last_value lead nth_value ntile percent_rank rank
   rank_dense row_number`,
);

// ───────────────────────────── allowed: generators ─────────────────────────────

// Table functions whose rows come from their arguments alone.
allow('generator', 'range generate_series unnest repeat repeat_row json_each json_tree');

// ───────────────────────────── refused ─────────────────────────────

refuse(
  {
    category: 'introspection',
    why: 'it reveals statistics of rows the policy hides',
    instead: 'use min(), max() or count() over the table instead',
  },
  'stats',
);
refuse(
  {
    category: 'introspection',
    why: 'it reveals statistics of whole tables, hidden rows included',
    instead: 'use aggregates such as min(), max(), avg() or approx_count_distinct() instead',
  },
  'summary',
);
refuse({ category: 'introspection', why: 'it reveals how DuckDB stores the values it reads' }, 'vector_type');
refuse(
  {
    category: 'introspection',
    why: 'it reveals the text of the query as rewritten by the policy',
    instead: 'your own query text is the one you sent',
  },
  'current_query',
);
refuse(
  { category: 'introspection', why: 'it reveals internal state of the query engine' },
  'current_query_id current_connection_id current_transaction_id txid_current',
);
refuse(
  { category: 'introspection', why: 'it reads settings or variables of the query engine' },
  'current_setting getvariable',
);
refuse(
  {
    category: 'introspection',
    why: "it reveals the query engine's own user",
    instead: 'use current_principal() for the principal running the query',
  },
  'current_user current_role session_user user',
);
refuse(
  {
    category: 'introspection',
    why: "it reveals the query engine's catalog, database or version metadata",
    instead: 'list tables with the catalog API (duckstring catalog)',
  },
  `current_catalog current_database current_schema current_schemas in_search_path get_block_size
   version col_description obj_description shobj_description format_pg_type format_type
   map_to_pg_oid pg_collation_is_visible pg_conversion_is_visible pg_function_is_visible
   pg_get_constraintdef pg_get_expr pg_get_viewdef pg_has_role pg_is_other_temp_schema
   pg_my_temp_schema pg_opclass_is_visible pg_operator_is_visible pg_opfamily_is_visible
   pg_table_is_visible pg_ts_config_is_visible pg_ts_dict_is_visible pg_ts_parser_is_visible
   pg_ts_template_is_visible pg_type_is_visible has_any_column_privilege has_column_privilege
   has_database_privilege has_foreign_data_wrapper_privilege has_function_privilege
   has_language_privilege has_schema_privilege has_sequence_privilege has_server_privilege
   has_table_privilege has_tablespace_privilege
   duckdb_approx_database_count duckdb_columns duckdb_connection_count duckdb_constraints duckdb_coordinate_systems
   duckdb_databases duckdb_dependencies duckdb_extensions duckdb_external_file_cache
   duckdb_functions duckdb_indexes duckdb_keywords duckdb_log_contexts duckdb_logs
   duckdb_logs_parsed duckdb_memory duckdb_optimizers duckdb_prepared_statements
   duckdb_profiling_settings duckdb_schemas duckdb_secret_types duckdb_secrets duckdb_sequences
   duckdb_settings duckdb_temporary_files duckdb_types duckdb_variables duckdb_views
   duckdb_tables pragma_collations pragma_database_size pragma_metadata_info pragma_platform
   pragma_show pragma_storage_info pragma_table_info pragma_user_agent pragma_version
   which_secret parse_duckdb_log_message`,
);
refuse(
  { category: 'introspection', why: "it reveals the query engine's environment" },
  `inet_client_addr inet_client_port inet_server_addr inet_server_port pg_conf_load_time
   pg_postmaster_start_time icu_calendar_names pg_timezone_names`,
);
refuse(
  {
    category: 'file_or_network',
    why: 'it reads files or the network',
    instead: 'query tables as pond.table',
  },
  `read_blob read_csv read_csv_auto read_duckdb read_json read_json_auto read_json_objects
   read_json_objects_auto read_ndjson read_ndjson_auto read_ndjson_objects read_parquet read_text
   parquet_bloom_probe parquet_file_metadata parquet_full_metadata parquet_kv_metadata
   parquet_metadata parquet_scan parquet_schema glob sniff_csv`,
);
refuse(
  {
    category: 'file_or_network',
    why: 'it scans memory or tables by address or name, not through the policy',
    instead: 'query tables as pond.table',
  },
  'arrow_scan arrow_scan_dumb seq_scan duckdb_table_sample',
);
refuse({ category: 'sleep', why: 'it blocks a query slot without doing any work' }, 'sleep_ms pg_sleep');
refuse(
  { category: 'side_effect', why: 'it reads or advances a sequence', instead: 'use row_number() OVER (...)' },
  'nextval currval',
);
refuse(
  {
    category: 'side_effect',
    why: 'it changes the state of the query engine (logging, profiling, parser, checkpoints, random seed)',
  },
  `setseed write_log checkpoint force_checkpoint enable_logging disable_logging truncate_duckdb_logs
   enable_peg_parser disable_peg_parser enable_profiling disable_profiling`,
);
refuse(
  {
    category: 'sql_as_text',
    why: 'it runs, parses or plans SQL given as text, out of reach of the policy',
    instead: 'write the query itself',
  },
  `query query_table json_execute_serialized_sql json_serialize_sql json_deserialize_sql
   json_serialize_plan sql_auto_complete check_peg_parser`,
);
refuse(
  {
    category: 'sql_as_text',
    why: 'as a table function it reads a table by name, out of reach of the policy',
    instead: 'use histogram(column) as an aggregate over pond.table',
  },
  'histogram histogram_values',
);
refuse(
  { category: 'pragma', why: 'it is a PRAGMA: it reads or changes the query engine, not data' },
  `add_parquet_key all_profiling_output collations copy_database database_list database_size
   disable_checkpoint_on_shutdown disable_object_cache disable_optimizer disable_print_progress_bar
   disable_profile disable_progress_bar disable_verification disable_verify_external
   disable_verify_fetch_row disable_verify_parallelism disable_verify_serializer
   enable_checkpoint_on_shutdown enable_object_cache enable_optimizer enable_print_progress_bar
   enable_profile enable_progress_bar enable_verification extension_versions functions
   import_database metadata_info platform show show_databases show_tables show_tables_expanded
   storage_info table_info user_agent verify_external verify_fetch_row verify_parallelism
   verify_serializer`,
);
refuse(
  { category: 'internal', why: 'it is an internal helper of DuckDB (storage, aggregate states or tests)' },
  `__internal_compress_integral_ubigint __internal_compress_integral_uinteger
   __internal_compress_integral_usmallint __internal_compress_integral_utinyint
   __internal_compress_string_hugeint __internal_compress_string_ubigint
   __internal_compress_string_uhugeint __internal_compress_string_uinteger
   __internal_compress_string_usmallint __internal_compress_string_utinyint
   __internal_decompress_integral_bigint __internal_decompress_integral_hugeint
   __internal_decompress_integral_integer __internal_decompress_integral_smallint
   __internal_decompress_integral_ubigint __internal_decompress_integral_uhugeint
   __internal_decompress_integral_uinteger __internal_decompress_integral_usmallint
   __internal_decompress_string combine finalize test_all_types test_vector_types
   variant_bytes_to_variant variant_to_parquet_variant`,
);

/** The categories a function is allowed in (empty when it is not allowed at all). */
export function allowedCategories(name: string): ReadonlySet<FunctionCategory> {
  return allowed.get(name.toLowerCase()) ?? new Set();
}

/** What every name this file does not list gets: a DuckDB upgrade cannot widen the surface. */
const NOT_REVIEWED: Refusal = {
  category: 'unknown',
  why: 'it is not on the list of reviewed functions',
  instead: 'see "Functions a query may call" in docs/governance.md',
};

/**
 * Why a function is refused in the uses it is not allowed in: its recorded reason, "not reviewed"
 * for a name this file does not list, undefined for an allowed name without a recorded reason.
 */
export function refusalOf(name: string): Refusal | undefined {
  const key = name.toLowerCase();
  return refused.get(key) ?? (allowed.has(key) ? undefined : NOT_REVIEWED);
}

/** Every reviewed name: for the enumeration test and the docs. */
export function reviewedFunctions(): {
  allowed: ReadonlyMap<string, ReadonlySet<FunctionCategory>>;
  refused: ReadonlyMap<string, Refusal>;
} {
  return { allowed, refused };
}

/** Aggregates named as text by list_aggregate(list, 'name') and its aliases. */
const AGGREGATE_BY_NAME = new Set([
  'aggregate',
  'array_aggr',
  'array_aggregate',
  'list_aggr',
  'list_aggregate',
]);

/** Table functions a query may read from, for messages. */
const GENERATORS = [...allowed].filter(([, c]) => c.has('generator')).map(([n]) => `${n}()`);

function refusedMessage(name: string, refusal: Refusal): string {
  const instead = refusal.instead ? `; ${refusal.instead}` : '';
  return `function ${name}() is not allowed: ${refusal.why}${instead}`;
}

/**
 * Why `name` may not be called in `use`, as a message for the caller; undefined when it may.
 * `literalAggregate`: for list_aggregate(list, 'name'), the aggregate named (null when the name is
 * not a string literal).
 */
export function functionUseProblem(
  name: string,
  use: FunctionUse,
  literalAggregate?: string | null,
): string | undefined {
  const key = name.toLowerCase();
  const categories = allowed.get(key);
  const fits = categories !== undefined && FITS[use].some((c) => categories.has(c));
  if (fits) {
    if (AGGREGATE_BY_NAME.has(key) && literalAggregate !== undefined) {
      if (literalAggregate === null) {
        return `function ${key}() is allowed only with the aggregate named by a string literal, e.g. ${key}(l, 'sum')`;
      }
      if (!allowedCategories(literalAggregate).has('aggregate')) {
        return `function ${key}() is not allowed with '${literalAggregate}': it is not an aggregate on the allow-list`;
      }
    }
    return undefined;
  }
  const refusal = refused.get(key);
  if (!categories) return refusedMessage(key, refusal ?? NOT_REVIEWED);
  // Allowed, but not for this use. count(*) is count_star() in the AST: show what was written.
  const shown = key === 'count_star' ? 'count(*)' : `${key}()`;
  switch (use) {
    case 'table':
      if (refusal) return refusedMessage(key, refusal);
      return `${shown} cannot be used as a table function: only value generators can (${GENERATORS.join(', ')}); query tables as pond.table`;
    case 'window':
      return `${shown} is not an aggregate or window function, so it cannot take OVER (...)`;
    case 'query':
      if (categories.has('window')) return `${shown} is a window function: it needs OVER (...)`;
      return `${shown} is a table function: use it in FROM`;
    case 'policy': {
      const kind = categories.has('aggregate')
        ? 'is an aggregate'
        : categories.has('window')
          ? 'is a window function'
          : categories.has('set_returning')
            ? 'returns rows'
            : 'is a table function';
      return `${shown} ${kind}: a row filter or mask is evaluated row by row and may call only scalar functions`;
    }
  }
}

/** The string literal a call passes as its argument `index`, null when it is anything else. */
function literalArgument(fn: LosslessObject, index: number): string | null {
  const children = fn.children;
  const arg = Array.isArray(children) ? children[index] : undefined;
  if (!isJsonObject(arg) || arg.class !== 'CONSTANT' || !isJsonObject(arg.value)) return null;
  const type = arg.value.type;
  if (!isJsonObject(type) || type.id !== 'VARCHAR' || arg.value.is_null !== false) return null;
  return typeof arg.value.value === 'string' ? arg.value.value : null;
}

/**
 * Why a FUNCTION or WINDOW expression (or the function of a TABLE_FUNCTION reference) may not be
 * called in `use`; undefined when it may. Functions the parser synthesises (struct_pack for
 * {...}, list_value for [...]) carry schema `main` / catalog `system` and pass like any other.
 */
export function functionCallProblem(fn: LosslessObject, use: FunctionUse): string | undefined {
  const name = String(fn.function_name).toLowerCase();
  if (isQualifiedFunction(fn.schema, fn.catalog)) {
    return `function ${name}() cannot be qualified with a schema or catalog; call it by its name alone`;
  }
  const literal = AGGREGATE_BY_NAME.has(name) ? literalArgument(fn, 1) : undefined;
  return functionUseProblem(name, use, literal);
}

/**
 * Names that DuckDB binds to a function call when no column has that name (`SELECT user`):
 * without parentheses they are column references in the AST, so they are checked here.
 */
const BARE_NAME_FUNCTIONS: Record<string, string> = {
  current_user: 'current_user',
  current_role: 'current_role',
  user: 'user',
  session_user: 'session_user',
  current_schema: 'current_schema',
  current_catalog: 'current_catalog',
  current_date: 'current_date',
  current_time: 'get_current_time',
  current_timestamp: 'get_current_timestamp',
  localtime: 'current_localtime',
  localtimestamp: 'current_localtimestamp',
};

/**
 * Why a one-part column reference may not stand: it names a refused function that DuckDB would
 * call when no column has that name. Undefined for any other name.
 */
export function bareNameProblem(name: string): string | undefined {
  const key = name.toLowerCase();
  const fn = BARE_NAME_FUNCTIONS[key];
  if (fn === undefined || functionUseProblem(fn, 'query') === undefined) return undefined;
  const refusal = refused.get(fn);
  const why = refusal ? `: ${refusal.why}` : '';
  return `${key} calls DuckDB's ${fn}() when no column has that name, which is not allowed${why}; to read a column named ${key}, qualify it (t.${key})`;
}
