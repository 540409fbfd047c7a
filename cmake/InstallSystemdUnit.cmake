# Run by `cmake --install` (cmake/HarvestInstall.cmake): installs harvest-serve.service to
# lib/systemd/system with the paths of this install's prefix in place of /usr's.
# In: HARVEST_UNIT_SOURCE, HARVEST_INSTALL_BINDIR, HARVEST_INSTALL_DATADIR; CMAKE_INSTALL_PREFIX
# and DESTDIR as for every install rule.

file(READ "${HARVEST_UNIT_SOURCE}" unit)
string(REPLACE "/usr/bin/harvest" "${CMAKE_INSTALL_PREFIX}/${HARVEST_INSTALL_BINDIR}/harvest"
  unit "${unit}")
string(REPLACE "/usr/share/harvest" "${CMAKE_INSTALL_PREFIX}/${HARVEST_INSTALL_DATADIR}/harvest"
  unit "${unit}")

set(unit_dir "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
set(unit_path "${unit_dir}/harvest-serve.service")
message(STATUS "Installing: ${unit_path}")
file(MAKE_DIRECTORY "${unit_dir}")
file(WRITE "${unit_path}" "${unit}")
file(CHMOD "${unit_path}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${unit_path}")
