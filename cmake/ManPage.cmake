# Makes the man page harvest.1 from docs/cli.md with pandoc (cmake/HarvestInstall.cmake runs it
# at build time). docs/cli.md's title becomes DESCRIPTION and each of its `##` sections a man
# section of the same name; NAME, SYNOPSIS and SEE ALSO are added here.
# In: PANDOC, VERSION, INPUT (docs/cli.md), OUTPUT (harvest.1).

file(READ "${INPUT}" cli)
# The first line is the page title ("# Command line — the contract").
string(REGEX REPLACE "^#[^\n]*\n" "" cli "${cli}")
# `## Examples` -> `# EXAMPLES`: man sections are level 1 and upper case by convention.
string(REGEX MATCHALL "\n## [^\n]*" sections "${cli}")
foreach(section IN LISTS sections)
  string(REGEX REPLACE "^\n## " "" name "${section}")
  string(TOUPPER "${name}" upper)
  string(REPLACE "${section}" "\n# ${upper}" cli "${cli}")
endforeach()

set(head [==[
# NAME

harvest - a scraping engine for product data

# SYNOPSIS

**harvest run** *FILE* \[*OPTIONS*\]\
**harvest check** \[**--serve**\] *FILE*\
**harvest fetch** *URL* \[*OPTIONS*\]\
**harvest serve --config** *FILE*\
**harvest** \[*SUBCOMMAND*\] **--help**\
**harvest --version**

# DESCRIPTION
]==])
set(tail [==[
# SEE ALSO

The documentation is installed in /usr/share/doc/harvest: docs/config.md (crawl configs),
docs/items.md (items), docs/metrics.md (Prometheus metrics), docs/bulk-api.md (`harvest
serve`). Example configs are in /usr/share/harvest/examples; the systemd unit
harvest-serve.service runs `harvest serve`.
]==])
set(page "${head}${cli}${tail}")

get_filename_component(output_dir "${OUTPUT}" DIRECTORY)
set(markdown "${output_dir}/harvest.1.md")
file(WRITE "${markdown}" "${page}")
execute_process(
  COMMAND "${PANDOC}" --standalone --from gfm --to man
    --metadata "title=HARVEST" --metadata "section=1"
    --metadata "header=User Commands" --metadata "footer=harvest ${VERSION}"
    --output "${OUTPUT}" "${markdown}"
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  file(REMOVE "${OUTPUT}")
  message(FATAL_ERROR "pandoc failed (${status}) making ${OUTPUT}")
endif()
