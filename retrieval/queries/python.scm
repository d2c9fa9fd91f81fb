; Definitions in Python source. @definition.<kind> marks the node, @name its name.
(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function
