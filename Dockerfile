# streamrec image: built from this repository on Debian 12, the same packages as CI.
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN ./scripts/install-deps.sh
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTREAMREC_NATIVE=OFF \
 && cmake --build build --target streamrec

FROM debian:12-slim
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends librdkafka++1 librocksdb7.8 libyaml-cpp0.7 \
      libsimdjson14 libspdlog1.10 libfmt9 libcpp-httplib0.11 libprometheus-cpp-core1.0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home streamrec \
 && mkdir /data && chown streamrec /data
COPY --from=build /src/build/streamrec /usr/local/bin/streamrec
USER streamrec
VOLUME /data
ENTRYPOINT ["streamrec"]
CMD ["--help"]
