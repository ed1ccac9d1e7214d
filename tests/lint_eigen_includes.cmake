# Fails when a source includes <Eigen/...> other than include/wsc/core/eigen.hpp
# (an earlier direct include would place Eigen outside that header's pragmas).
file(GLOB_RECURSE sources ${ROOT}/include/*.hpp ${ROOT}/src/*.cpp ${ROOT}/src/*.hpp
     ${ROOT}/tests/*.cpp ${ROOT}/tests/*.hpp ${ROOT}/bench/*.cpp)
set(bad "")
foreach(f ${sources})
  if(f STREQUAL "${ROOT}/include/wsc/core/eigen.hpp")
    continue()
  endif()
  file(STRINGS ${f} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"](Eigen|unsupported/Eigen)/")
  if(lines)
    list(APPEND bad "${f}")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "include Eigen through wsc/core/eigen.hpp, not directly: ${bad}")
endif()
message(STATUS "Eigen is included only through wsc/core/eigen.hpp")
