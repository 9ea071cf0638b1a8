# Model export (include/logreg/export*.hpp, src/export/): one function that adds the export library to the
# build (CMakeLists.txt calls it once; the fuzz targets link the same logreg_export).
#   logreg_add_export_library(TARGET ROOT)  ROOT: the repository root
# protoc turns Debian's ONNX schema (libonnx-dev: /usr/include/onnx/onnx.proto) into C++ in the build
# directory, and the static libprotobuf.a (libprotobuf-dev) is linked in, so logreg_cuda needs neither
# libonnx*.so nor libprotobuf.so at run time. protoc and the headers come from the same Debian protobuf.
function(logreg_add_export_library target root)
  find_program(LOGREG_PROTOC protoc REQUIRED)
  find_file(LOGREG_ONNX_PROTO onnx/onnx.proto PATHS /usr/include REQUIRED)
  find_library(LOGREG_PROTOBUF_STATIC NAMES libprotobuf.a REQUIRED)
  find_library(LOGREG_ZLIB_STATIC_FOR_PROTOBUF NAMES libz.a REQUIRED)
  find_package(Threads REQUIRED)
  get_filename_component(proto_dir ${LOGREG_ONNX_PROTO} DIRECTORY)
  set(gen ${CMAKE_CURRENT_BINARY_DIR}/${target}_onnx_proto)
  add_custom_command(
    OUTPUT ${gen}/onnx.pb.cc ${gen}/onnx.pb.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${gen}
    COMMAND ${LOGREG_PROTOC} --proto_path=${proto_dir} --cpp_out=${gen} ${LOGREG_ONNX_PROTO}
    DEPENDS ${LOGREG_ONNX_PROTO}
    COMMENT "protoc: C++ classes of ${LOGREG_ONNX_PROTO}"
    VERBATIM)
  # Generated code, compiled without the project's warning flags; its header is a system header to us.
  add_library(${target}_onnx_proto STATIC ${gen}/onnx.pb.cc)
  target_include_directories(${target}_onnx_proto SYSTEM PUBLIC ${gen})
  target_link_libraries(${target}_onnx_proto PUBLIC ${LOGREG_PROTOBUF_STATIC} ${LOGREG_ZLIB_STATIC_FOR_PROTOBUF}
    Threads::Threads)
  set_target_properties(${target}_onnx_proto PROPERTIES POSITION_INDEPENDENT_CODE ON)

  add_library(${target} STATIC
    ${root}/src/export/export_format.cpp
    ${root}/src/export/npz_export.cpp
    ${root}/src/export/onnx_export.cpp
    ${root}/src/export/safetensors_file.cpp)
  target_include_directories(${target} PUBLIC ${root}/include)
  target_link_libraries(${target} PRIVATE ${target}_onnx_proto)
  target_link_libraries(${target} PUBLIC ${LOGREG_ZLIB_STATIC_FOR_PROTOBUF})
endfunction()
