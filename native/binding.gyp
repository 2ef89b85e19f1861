{
  "targets": [
    {
      "target_name": "groupconv_native",
      "sources": ["addon.c"],
      "cflags": ["-O3", "-fno-math-errno", "-ffp-contract=off"]
    }
  ]
}
