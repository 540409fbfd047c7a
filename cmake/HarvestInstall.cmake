# What `cmake --install build --prefix P` puts under P, and the Debian package CPack makes of it
# (`cpack -G DEB` in the build folder, or the `package` target). README.md "Install" lists the
# layout; tests/package/package_test.sh checks it on a real .deb.

include(GNUInstallDirs)

install(TARGETS harvest RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Documentation under share/doc/harvest, with docs/ kept as a folder so README.md's links work.
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB HARVEST_DOC_PAGES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${HARVEST_DOC_PAGES} DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)

# Example configs and the Grafana dashboard are data the service and its users read, not
# documentation: share/harvest survives images that drop share/doc (path-exclude in dpkg.cfg).
file(GLOB HARVEST_EXAMPLE_CONFIGS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/config/examples/*.yaml)
install(FILES ${HARVEST_EXAMPLE_CONFIGS} DESTINATION ${CMAKE_INSTALL_DATADIR}/harvest/examples)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/grafana/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/harvest/grafana)

# The systemd unit names the installed binary: deploy/systemd/harvest-serve.service says
# /usr/bin/harvest (the package's path); another prefix gets its own bin/ written in at install
# time, when `cmake --install --prefix` has fixed the prefix.
install(CODE "set(HARVEST_UNIT_SOURCE \"${PROJECT_SOURCE_DIR}/deploy/systemd/harvest-serve.service\")
set(HARVEST_INSTALL_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
set(HARVEST_INSTALL_DATADIR \"${CMAKE_INSTALL_DATADIR}\")")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/InstallSystemdUnit.cmake)

# The man page, made from docs/cli.md by pandoc. Without pandoc everything else still builds
# and installs.
find_program(HARVEST_PANDOC pandoc)
if(HARVEST_PANDOC)
  set(HARVEST_MAN_PAGE ${CMAKE_CURRENT_BINARY_DIR}/harvest.1)
  add_custom_command(OUTPUT ${HARVEST_MAN_PAGE}
    COMMAND ${CMAKE_COMMAND} -DPANDOC=${HARVEST_PANDOC} -DVERSION=${PROJECT_VERSION}
      -DINPUT=${PROJECT_SOURCE_DIR}/docs/cli.md -DOUTPUT=${HARVEST_MAN_PAGE}
      -P ${PROJECT_SOURCE_DIR}/cmake/ManPage.cmake
    DEPENDS ${PROJECT_SOURCE_DIR}/docs/cli.md ${PROJECT_SOURCE_DIR}/cmake/ManPage.cmake
    COMMENT "Generating the man page harvest.1 from docs/cli.md"
    VERBATIM)
  add_custom_target(harvest_man_page ALL DEPENDS ${HARVEST_MAN_PAGE})
  install(FILES ${HARVEST_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(STATUS "pandoc not found (Debian: pandoc): the man page harvest.1 is not built")
endif()

# The .deb: Depends computed by dpkg-shlibdeps from the libraries harvest links. Only for a
# top-level build: a project that adds Harvest as a subfolder packages itself.
if(NOT PROJECT_IS_TOP_LEVEL)
  return()
endif()
set(CPACK_PACKAGE_NAME harvest)
set(CPACK_PACKAGE_VENDOR "Harvest")
set(HARVEST_PACKAGE_MAINTAINER "Harvest maintainers <maintainers@harvest.invalid>" CACHE STRING
  "The Maintainer field of the .deb")
set(CPACK_PACKAGE_CONTACT "${HARVEST_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "scraping engine for product data")
# Short lines: CPack indents each as a continuation line of the control file's Description.
string(CONCAT CPACK_PACKAGE_DESCRIPTION
  "Harvest crawls shops and product APIs with thousands of concurrent fetches,\n"
  "per-host rate limits, retries and circuit breakers, and extracts product items\n"
  "(JSON, JSON-LD, microdata, HTML) into JSONL, CSV, SQLite or webhooks.\n"
  "harvest serve is its bulk job service, with a systemd unit (harvest-serve).")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION web)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
include(CPack)
