# gameday's Debian package, for a bastion host or a CI runner: `cmake --build build --target
# package` writes build/gameday_VERSION_ARCH.deb (CPack), which `apt install ./gameday_*.deb`
# installs with its dependencies resolved by apt: dpkg-shlibdeps derives them from the libraries
# the binary links (libcurl, libssh2, Poco, yaml-cpp, re2, ...). It holds the binary (stripped),
# the bundled plans and the README. Included from the top-level CMakeLists.txt: CPack belongs
# there. Test gameday_deb (packaging/deb_test.sh) installs it on a clean Debian root and runs a
# plan with it.
include(GNUInstallDirs)
install(TARGETS gameday RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/experiments/plans/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/gameday/plans FILES_MATCHING PATTERN "*.yaml")
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME gameday)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "gameday developers <gameday@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "chaos-engineering fault injector and verifier for Kubernetes high availability")
set(CPACK_PACKAGE_DESCRIPTION
  "Experiment plans drive injectors that kill pods, partition networks or stop control-plane nodes, while verifiers poll the service's SLOs; every experiment ends in a recovery-time report with its error bar, and every fault is journaled and reverted.")
execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE GAMEDAY_DEB_ARCH
  OUTPUT_STRIP_TRAILING_WHITESPACE)
set(GAMEDAY_DEB gameday_${PROJECT_VERSION}_${GAMEDAY_DEB_ARCH}.deb)
set(CPACK_DEBIAN_FILE_NAME ${GAMEDAY_DEB})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
# What some injectors and the sandbox call on the machine gameday runs on.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "iptables, iproute2, openssh-client, haproxy")
set(CPACK_STRIP_FILES ON)
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_BINARY_DIR})
include(CPack)

# Test gameday_deb (integration: root): packaging/deb_test.sh installs the package (scripts/test.sh
# makes it) on a clean Debian root from tests/harness/build-clean-root.sh and runs a plan with the
# installed binary.
if(GAMEDAY_TESTS)
  add_test(NAME gameday_deb
    COMMAND bash ${CMAKE_SOURCE_DIR}/packaging/deb_test.sh ${CMAKE_BINARY_DIR}/${GAMEDAY_DEB})
  set_tests_properties(gameday_deb PROPERTIES LABELS integration TIMEOUT 600
    SKIP_RETURN_CODE 77)
endif()
