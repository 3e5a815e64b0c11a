# install.cmake - install rules for libdaytona (included from the top
# CMakeLists.txt after every subdirectory, so the targets exist).
#
# Installed: the shared library `daytona` (libdaytona.so.X.Y.Z and its
# soname/dev links), the public headers daytona/daytona.h and the generated
# daytona/version.h, a pkg-config file (libdaytona.pc) and a CMake package
# (DaytonaConfig.cmake, DaytonaConfigVersion.cmake, DaytonaTargets*.cmake;
# find_package(Daytona) gives Daytona::daytona), plus the dtctl program.
# The emulator, the static library and dtcommon are not installed: the
# shared library links dtcommon, curl and cJSON PRIVATE, so nothing of them
# appears in the exported link interface.
#
# Both the pkg-config file and the CMake package are relocatable (paths are
# relative to where they are installed), because `cmake --install --prefix P`
# chooses the prefix after configure time.
include(CMakePackageConfigHelpers)

set(DT_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Daytona)
set(DT_PKGCONFIG_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(TARGETS daytona EXPORT DaytonaTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          COMPONENT runtime NAMELINK_COMPONENT dev
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

install(FILES ${PROJECT_SOURCE_DIR}/include/daytona/daytona.h
              ${PROJECT_BINARY_DIR}/include/daytona/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/daytona COMPONENT dev)

# dtctl links the static library, so it needs nothing installed beside it
# but the system's libcurl and libcjson.
install(TARGETS dtctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)

# CMake package.  While the major version is 0 a minor release may break
# the API (semver), so only the same minor version is compatible then.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(DT_VERSION_COMPAT SameMinorVersion)
else()
  set(DT_VERSION_COMPAT SameMajorVersion)
endif()
install(EXPORT DaytonaTargets NAMESPACE Daytona::
        DESTINATION ${DT_CMAKE_INSTALL_DIR} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/DaytonaConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/DaytonaConfig.cmake
  INSTALL_DESTINATION ${DT_CMAKE_INSTALL_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/DaytonaConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY ${DT_VERSION_COMPAT})
install(FILES ${PROJECT_BINARY_DIR}/cmake/DaytonaConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/DaytonaConfigVersion.cmake
        DESTINATION ${DT_CMAKE_INSTALL_DIR} COMPONENT dev)

# pkg-config.  The prefix is computed from ${pcfiledir} so the file stays
# right whatever --prefix the install gets; an absolute LIBDIR or
# INCLUDEDIR (set by the packager) is used as given.
foreach(kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
    set(DT_PC_${kind} "${CMAKE_INSTALL_${kind}}")
  else()
    set(DT_PC_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${DT_PKGCONFIG_INSTALL_DIR}")
  set(DT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  # lib/pkgconfig -> "../..", lib/x86_64-linux-gnu/pkgconfig -> "../../..".
  file(RELATIVE_PATH DT_PC_UP "/root/${DT_PKGCONFIG_INSTALL_DIR}" "/root")
  string(REGEX REPLACE "/$" "" DT_PC_UP "${DT_PC_UP}")
  set(DT_PC_PREFIX "\${pcfiledir}/${DT_PC_UP}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/client/daytona.pc.in
               ${PROJECT_BINARY_DIR}/pkgconfig/libdaytona.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/libdaytona.pc
        DESTINATION ${DT_PKGCONFIG_INSTALL_DIR} COMPONENT dev)

# The test-support API (client/testing.c; issue 8): start a private
# daytona-emu from a test, reset it, move its clock, inject faults.
install(FILES ${PROJECT_SOURCE_DIR}/include/daytona/testing.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/daytona COMPONENT dev)
