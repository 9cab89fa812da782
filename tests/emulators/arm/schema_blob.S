/* The wire schema (arm-compute-network.schema.json), linked in so that the
 * emulator needs no file at run time. */
	.section .rodata
	.global arm_schema_json
	.type arm_schema_json, @object
arm_schema_json:
	.incbin "tests/emulators/arm/arm-compute-network.schema.json"
	.byte 0
	.section .note.GNU-stack,"",@progbits
