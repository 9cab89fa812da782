/* The wire schema (compute-v1.schema.json), linked in so that the emulator
 * needs no file at run time. */
	.section .rodata
	.global gce_schema_json
	.type gce_schema_json, @object
gce_schema_json:
	.incbin "tests/emulators/gce/compute-v1.schema.json"
	.byte 0
	.section .note.GNU-stack,"",@progbits
